"""Connecting a merchant's own Braintree account: keys checked, sealed, audited.

Braintree has no platform account that opens merchant accounts: the merchant gives its
Braintree merchant id and API keys. They are proved with one call that changes nothing before
anything is stored, then sealed (`payments.processor_credentials`) and never shown again; the
audit entry names the account and the public key's digest, never a key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from config.envelope import EnvelopeError
from payments import processor_credentials
from payments.exceptions import (
    InvalidPaymentRequestError,
    ProcessorAccountTakenError,
    ProcessorAuthenticationError,
    ProcessorKeysInvalidError,
)
from payments.gateways.braintree import Keys, credentials_check
from payments.models import Processor, ProcessorAccount, ProcessorCredential
from payments.services._common import audit

# Braintree's merchant ids and keys are short runs of letters, digits and underscores; a
# bound also keeps whatever is pasted by mistake (a card number, a paragraph) out of a request.
_MERCHANT_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _validated(merchant_id: str, public_key: str, private_key: str) -> Keys:
    fields = (("merchant_id", merchant_id, _MERCHANT_ID), ("public_key", public_key, _KEY))
    for param, value, pattern in (*fields, ("private_key", private_key, _KEY)):
        if not isinstance(value, str) or not pattern.match(value.strip()):
            raise InvalidPaymentRequestError(
                f"Enter the Braintree {param.replace('_', ' ')} as shown in its control panel.",
                param=param,
            )
    return Keys(
        merchant_id=merchant_id.strip(),
        public_key=public_key.strip(),
        private_key=private_key.strip(),
    )


def braintree_account_connect(
    *,
    merchant: Merchant,
    merchant_id: str,
    public_key: str,
    private_key: str,
    actor: Actor,
    request: HttpRequest | None = None,
) -> ProcessorAccount:
    """Connect (or re-key) the merchant's Braintree account.

    Raises `InvalidPaymentRequestError` for malformed input, `ProcessorKeysInvalidError` when
    Braintree refuses the keys, `ProcessorUnavailableError` when it cannot be reached (nothing
    stored in either case), `ProcessorAccountTakenError` when another merchant holds it.
    """
    keys = _validated(merchant_id, public_key, private_key)
    try:
        state = credentials_check(keys)
    except ProcessorAuthenticationError:
        audit(
            action="merchant.processor_account_connect",
            merchant=merchant,
            actor=actor,
            request=request,
            target_type="merchant",
            target_id=merchant.public_id,
            payload={"processor": Processor.BRAINTREE, "account": keys.merchant_id},
            outcome="failure",
        )
        raise ProcessorKeysInvalidError() from None
    try:
        with transaction.atomic():
            account = ProcessorAccount.objects.filter(
                merchant=merchant, processor=Processor.BRAINTREE
            ).first()
            rekeyed = account is not None
            if account is None:
                account = ProcessorAccount.objects.create(
                    merchant=merchant,
                    processor=Processor.BRAINTREE,
                    processor_account_id=keys.merchant_id,
                    charges_enabled=state.charges_enabled,
                    payouts_enabled=state.payouts_enabled,
                    details_submitted=state.details_submitted,
                )
            elif account.processor_account_id != keys.merchant_id:
                account.processor_account_id = keys.merchant_id
                account.save(update_fields=["processor_account_id", "updated_at"])
            credential = processor_credentials.credential_seal(
                account=account, public_key=keys.public_key, private_key=keys.private_key
            )
            audit(
                action="merchant.processor_account_connect",
                merchant=merchant,
                actor=actor,
                request=request,
                target_type="merchant",
                target_id=merchant.public_id,
                payload={
                    "processor": Processor.BRAINTREE,
                    "account": keys.merchant_id,
                    "credential": credential.public_id,
                    "public_key_sha256": credential.public_key_digest[:16],
                    "key_id": credential.key_id,
                    "rekeyed": rekeyed,
                },
            )
    except IntegrityError:
        # The account id (or its public key) is another merchant's.
        raise ProcessorAccountTakenError() from None
    return account


@dataclass
class RewrapResult:
    pending: int = 0
    rewrapped: int = 0
    failures: list[str] = field(default_factory=list)


def processor_credentials_rewrap(*, target_key_id: str, dry_run: bool = False) -> RewrapResult:
    """Re-wrap every processor credential's data key under `target_key_id` (key rotation).

    Row by row, each in its own transaction with the row locked (others skip it for the next
    run): an interrupted run resumes where it stopped. One bad row does not stop the rest.
    """
    pending = ProcessorCredential.objects.exclude(key_id=target_key_id)
    result = RewrapResult(pending=pending.count())
    if dry_run:
        return result
    for pk in list(pending.order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            credential = (
                ProcessorCredential.objects.select_for_update(skip_locked=True)
                .select_related("account")
                .filter(pk=pk)
                .first()
            )
            if credential is None:
                continue
            try:
                result.rewrapped += int(
                    processor_credentials.credential_rewrap(
                        credential=credential, target_key_id=target_key_id
                    )
                )
            except EnvelopeError as exc:
                result.failures.append(f"{credential.public_id}: {exc.message}")
    return result
