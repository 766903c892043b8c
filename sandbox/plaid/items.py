"""What happens to Items: logins, manual account entry, micro-deposits and their clock, and
the webhooks each change causes.

Callers hold `store.lock`. `emit(item, payload)` hands a webhook body to the provider, which
signs and queues it when the Item has a webhook URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from sandbox.plaid import errors
from sandbox.plaid.errors import PlaidError
from sandbox.plaid.institutions import (
    GOOD_ACCOUNTS,
    HOUNDSTOOTH,
    INSTITUTIONS,
    LOGIN_ERROR_CODES,
    MICRODEPOSIT_ACCOUNT,
    NEW_ACCOUNT_TEMPLATES,
    PASS_GOOD,
    PASS_MICRODEPOSITS,
    SAME_DAY_ATTEMPTS,
    SAME_DAY_CODE,
    SANDBOX_WIRE_ROUTING,
    USER_GOOD,
    AccountTemplate,
    Institution,
    account_number,
)
from sandbox.plaid.store import ENVIRONMENT, JSON, PlaidStore, plaid_id, token

Emit = Callable[[JSON, JSON], None]

PUBLIC_TOKEN_SECONDS = 30 * 60
# Plaid's automated micro-deposit lands and verifies within one to two business days; the
# sandbox verifies a day after linking (advance /_sandbox/clock), or at once through
# /sandbox/item/set_verification_status.
AUTOMATED_VERIFY_SECONDS = 24 * 3600
PENDING_EXPIRATION_SECONDS = 7 * 24 * 3600
VERIFIED = frozenset({None, "automatically_verified", "manually_verified", "database_matched"})

INSTANT, AUTOMATED, SAME_DAY = "INSTANT_AUTH", "AUTOMATED_MICRODEPOSITS", "SAME_DAY_MICRODEPOSITS"


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aba_valid(routing: str) -> bool:
    """The ABA routing number checksum (3-7-1 weights), as Link checks it before submitting."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def institution(institution_id: str) -> Institution:
    found = INSTITUTIONS.get(institution_id)
    if found is None:
        raise PlaidError(
            "INVALID_INPUT",
            "INVALID_INSTITUTION",
            f"invalid institution_id provided: {institution_id}",
        )
    return found


def check_login(inst: Institution, username: str, password: str, *, automated: bool) -> str:
    """The Auth method a login leads to, or the Plaid error the institution answers."""
    if password.startswith("error_"):
        code = password.removeprefix("error_")
        if code in LOGIN_ERROR_CODES:
            if code == "INVALID_CREDENTIALS":
                raise errors.invalid_credentials()
            raise PlaidError(
                LOGIN_ERROR_CODES[code], code, f"the login failed with {code} (sandbox password)"
            )
    if username != USER_GOOD or password not in (PASS_GOOD, PASS_MICRODEPOSITS):
        raise errors.invalid_credentials()
    if inst.instant_auth and password == PASS_GOOD:
        return INSTANT
    if inst.institution_id != HOUNDSTOOTH:
        raise errors.invalid_credentials()
    if not automated:
        raise PlaidError(
            "ITEM_ERROR",
            "PRODUCTS_NOT_SUPPORTED",
            "Houndstooth Bank supports Auth only through automated micro-deposits, which this "
            "link token disables",
            display_message="This bank cannot be linked instantly.",
        )
    return AUTOMATED


def _account(
    template: AccountTemplate,
    *,
    seed: str,
    now: int,
    routing: str,
    number: str | None = None,
    status: str | None = None,
    persistent: str | None = None,
) -> JSON:
    full = number or account_number(template.mask, seed + template.mask)
    return {
        "account_id": plaid_id(),
        "persistent_account_id": persistent,
        "name": template.name,
        "official_name": template.official_name,
        "mask": full[-4:],
        "type": template.type,
        "subtype": template.subtype,
        "available": template.available,
        "current": template.current,
        "limit": template.limit,
        "verification_status": status,
        "account_number": full if template.depository else None,
        "routing": routing if template.depository else None,
        "created_at": now,
        "attempts_left": SAME_DAY_ATTEMPTS if status == "pending_manual_verification" else None,
    }


def persistent_id(institution_id: str, username: str, mask: str) -> str:
    """Stable across Items for the same login and account, as Plaid's persistent_account_id."""
    return hashlib.sha256(f"{institution_id}|{username}|{mask}".encode()).hexdigest()[:48]


def selectable(method: str) -> list[AccountTemplate]:
    """What Link offers after a login: Auth only links checking and savings accounts."""
    return [MICRODEPOSIT_ACCOUNT] if method == AUTOMATED else list(GOOD_ACCOUNTS)


def new_item(
    store: PlaidStore,
    *,
    inst: Institution | None,
    method: str,
    webhook: str | None,
    products: list[str],
    now: int,
) -> JSON:
    item_id = plaid_id()
    item: JSON = {
        "item_id": item_id,
        "institution_id": inst.institution_id if inst else None,
        "institution_name": inst.name if inst else None,
        "webhook": webhook,
        "error": None,
        "products": products,
        "auth_method": method,
        "created_at": now,
        "consent_expiration_time": None,
        "accounts": [],
        # Accounts at the institution the customer has not shared with the app: Plaid's API
        # never reports them until the customer selects them in Link's update mode.
        "unshared_accounts": [],
        "access_token": token("access"),
    }
    store.items[item_id] = item
    store.access_tokens[item["access_token"]] = item_id
    return item


def link_credentials(
    store: PlaidStore,
    *,
    inst: Institution,
    method: str,
    username: str,
    templates: list[AccountTemplate],
    webhook: str | None,
    products: list[str],
    now: int,
    numbers: tuple[str, str] | None = None,
) -> JSON:
    """An Item from a credential login (instant Auth, or automated micro-deposits pending)."""
    item = new_item(store, inst=inst, method=method, webhook=webhook, products=products, now=now)
    automated = method == AUTOMATED and numbers is not None
    routing, number = numbers if automated and numbers else (inst.routing, None)
    for template in templates:
        account = _account(
            template,
            seed=item["item_id"],
            now=now,
            routing=routing,
            number=number,
            status="pending_automatic_verification" if automated else None,
            # Plaid only knows an account across Items when it saw the bank login.
            persistent=None
            if automated
            else persistent_id(inst.institution_id, username, template.mask),
        )
        if template.depository and not automated:
            account["wire_routing"] = SANDBOX_WIRE_ROUTING
        item["accounts"].append(account)
    return item


def link_manual(
    store: PlaidStore,
    *,
    routing: str,
    number: str,
    subtype: str,
    holder: str,
    webhook: str | None,
    products: list[str],
    now: int,
) -> JSON:
    """Same-day micro-deposits: an Item with no institution and one account awaiting the code."""
    item = new_item(store, inst=None, method=SAME_DAY, webhook=webhook, products=products, now=now)
    template = AccountTemplate(
        "Checking" if subtype == "checking" else "Savings",
        "",
        number[-4:],
        "depository",
        subtype,
        None,
        0.0,
        None,
    )
    account = _account(
        template,
        seed=item["item_id"],
        now=now,
        routing=routing,
        number=number,
        status="pending_manual_verification",
    )
    account["official_name"] = None
    account["holder_name"] = holder
    item["accounts"].append(account)
    return item


def unshared(item: JSON) -> list[JSON]:
    """The Item's accounts the customer has not shared (state files from before: none)."""
    found: list[JSON] = item.setdefault("unshared_accounts", [])
    return found


def open_new_account(item: JSON, now: int) -> JSON | None:
    """What Plaid's Sandbox does on NEW_ACCOUNTS_AVAILABLE: the bank has an account the
    customer has not shared yet. One at a time (none is added while one waits), for credential
    logins with instant Auth only (a new account elsewhere would need its own micro-deposits).
    """
    waiting = unshared(item)
    if waiting or item["auth_method"] != INSTANT or not item["institution_id"]:
        return None
    inst = institution(item["institution_id"])
    taken = {a["mask"] for a in item["accounts"]}
    template = next(
        (t for t in NEW_ACCOUNT_TEMPLATES if t.depository and t.mask not in taken), None
    )
    if template is None:
        return None
    account = _account(
        template,
        seed=item["item_id"],
        now=now,
        routing=inst.routing,
        persistent=persistent_id(inst.institution_id, USER_GOOD, template.mask),
    )
    account["wire_routing"] = SANDBOX_WIRE_ROUTING
    waiting.append(account)
    return account


def share(item: JSON, account_ids: list[str]) -> None:
    """Link's Account Select in update mode: exactly the chosen accounts are shared from now."""
    everything = [*item["accounts"], *unshared(item)]
    known = {a["account_id"] for a in everything}
    unknown = [a for a in account_ids if a not in known]
    if unknown:
        raise errors.invalid_request(
            "INVALID_FIELD", f"account_ids names an account not at this Item: {unknown[0]}"
        )
    if not account_ids:
        raise PlaidError(
            "INVALID_REQUEST",
            "INVALID_FIELD",
            "select at least one account",
            display_message="Select at least one account.",
        )
    chosen = set(account_ids)
    item["accounts"] = [a for a in everything if a["account_id"] in chosen]
    item["unshared_accounts"] = [a for a in everything if a["account_id"] not in chosen]


def public_token(store: PlaidStore, item: JSON, now: int) -> str:
    value = token("public")
    store.public_tokens[value] = {"item_id": item["item_id"], "expires": now + PUBLIC_TOKEN_SECONDS}
    return value


def webhook_body(item: JSON, webhook_type: str, code: str, **fields: object) -> JSON:
    return {
        "webhook_type": webhook_type,
        "webhook_code": code,
        "item_id": item["item_id"],
        **fields,
        "environment": ENVIRONMENT,
    }


def set_verification(item: JSON, account: JSON, status: str, emit: Emit) -> None:
    """Move an account's micro-deposit state and send the webhook Plaid sends for it."""
    account["verification_status"] = status
    if status == "automatically_verified":
        emit(
            item,
            webhook_body(item, "AUTH", "AUTOMATICALLY_VERIFIED", account_id=account["account_id"]),
        )
    elif status == "verification_expired":
        emit(
            item,
            webhook_body(item, "AUTH", "VERIFICATION_EXPIRED", account_id=account["account_id"]),
        )
    elif status in ("manually_verified", "verification_failed"):
        emit(
            item,
            webhook_body(
                item,
                "AUTH",
                "SMS_MICRODEPOSITS_VERIFICATION",
                account_id=account["account_id"],
                status=status.upper(),
            ),
        )


def verify_code(item: JSON, account: JSON, code: str, emit: Emit) -> None:
    """One attempt at the same-day code; raises with the attempts left, locks after three."""
    if account["verification_status"] != "pending_manual_verification":
        raise PlaidError(
            "ITEM_ERROR",
            "TOO_MANY_VERIFICATION_ATTEMPTS"
            if account["verification_status"] == "verification_failed"
            else "INVALID_FIELD",
            f"the account is {account['verification_status']}, not awaiting verification",
        )
    if code.strip().upper() == SAME_DAY_CODE:
        account["attempts_left"] = None
        set_verification(item, account, "manually_verified", emit)
        return
    account["attempts_left"] = max(int(account["attempts_left"] or 0) - 1, 0)
    if account["attempts_left"] == 0:
        set_verification(item, account, "verification_failed", emit)
        raise PlaidError(
            "ITEM_ERROR",
            "TOO_MANY_VERIFICATION_ATTEMPTS",
            "the user attempted to verify their Same Day micro-deposit code more than 3 times "
            "and the Item is now permanently locked",
            display_message="Too many attempts. This account can no longer be verified.",
        )
    raise PlaidError(
        "ITEM_ERROR",
        "INCORRECT_DEPOSIT_VERIFICATION",
        "the user submitted an incorrect Manual Same-Day micro-deposit verification input",
        display_message=f"That code is not right. {account['attempts_left']} attempts left.",
    )


def tick(store: PlaidStore, now: int, emit: Emit) -> None:
    """Apply what time alone changes: automated micro-deposits land and verify."""
    for item in store.items.values():
        for account in item["accounts"]:
            if (
                account["verification_status"] == "pending_automatic_verification"
                and now >= account["created_at"] + AUTOMATED_VERIFY_SECONDS
            ):
                set_verification(item, account, "automatically_verified", emit)


# The item webhooks the sandbox can fire, with the state change each implies so that a
# receiver re-reading the Item (as it should) sees what the webhook announced.
ITEM_CODES = (
    "ERROR",
    "PENDING_DISCONNECT",
    "PENDING_EXPIRATION",
    "USER_PERMISSION_REVOKED",
    "LOGIN_REPAIRED",
    "NEW_ACCOUNTS_AVAILABLE",
)
AUTH_CODES = ("AUTOMATICALLY_VERIFIED", "VERIFICATION_EXPIRED", "SMS_MICRODEPOSITS_VERIFICATION")


def fire(item: JSON, webhook_type: str, code: str, now: int, emit: Emit) -> None:
    if webhook_type == "ITEM" and code in ITEM_CODES:
        fields: dict[str, object] = {}
        if code == "ERROR":
            item["error"] = errors.login_required().item_error()
            fields["error"] = item["error"]
        elif code == "USER_PERMISSION_REVOKED":
            item["error"] = errors.item_error(
                "USER_PERMISSION_REVOKED",
                "the user has revoked access to this Item through the institution or Plaid Portal",
            ).item_error()
            fields["error"] = item["error"]
        elif code == "PENDING_EXPIRATION":
            item["consent_expiration_time"] = now + PENDING_EXPIRATION_SECONDS
            fields["consent_expiration_time"] = iso(item["consent_expiration_time"])
        elif code == "PENDING_DISCONNECT":
            fields["reason"] = "INSTITUTION_TOKEN_EXPIRATION"
        elif code == "LOGIN_REPAIRED":
            if item["error"] and item["error"]["error_code"] == "ITEM_LOGIN_REQUIRED":
                item["error"] = None
        elif code == "NEW_ACCOUNTS_AVAILABLE":
            open_new_account(item, now)
            fields["error"] = None
        emit(item, webhook_body(item, "ITEM", code, **fields))
        return
    if webhook_type == "AUTH" and code in AUTH_CODES:
        wanted = (
            "pending_manual_verification"
            if code == "SMS_MICRODEPOSITS_VERIFICATION"
            else "pending_automatic_verification"
        )
        account = next((a for a in item["accounts"] if a["verification_status"] == wanted), None)
        if account is None:
            raise errors.invalid_request(
                "INVALID_FIELD", f"{code} needs an account in {wanted} on this Item"
            )
        status = {
            "AUTOMATICALLY_VERIFIED": "automatically_verified",
            "VERIFICATION_EXPIRED": "verification_expired",
            "SMS_MICRODEPOSITS_VERIFICATION": "manually_verified",
        }[code]
        if status == "manually_verified":
            account["attempts_left"] = None
        set_verification(item, account, status, emit)
        return
    raise errors.invalid_request(
        "INVALID_FIELD", f"the sandbox cannot fire {webhook_type} {code} webhooks"
    )
