"""Demo money for `seed_demo`: the demo merchant's balance, past payouts and disputes.

The history is made at the processor, as a live account's is: card payments and a refund
through the real services, then what the bank, the card network and cardholders do, through
the sandbox's control API (`/_sandbox/stripe/...`, docs/sandbox.md): the automatic payout runs,
the bank moves a payout or returns it, a cardholder disputes, the network decides. All of it
happens at the sandbox's current time: its clock is never moved, because under `make run` the
same clock stamps Plaid's webhooks, which Ledgerline refuses five minutes away from real time.

Ledgerline learns the history through the reads and applies its event handlers use (disputes
as `payments.disputes` applies them, payouts and balance transactions as
`payments.payout_events` does); under `make run` the processor's webhooks bring the same
objects and change nothing. The result, on `demo`:
- a paid payout (payments less a partial refund), a failed one (`could_not_process`, its money
  returned), and one in transit carrying new payments, the returned payout and both disputes;
- a dispute needing a response (deadline in 7 days) and one won with evidence;
- an available balance (payments not yet paid out) and a pending one (a card payment waiting
  for its funds); every payment with its processor fee and net.

Without the sandbox (real Stripe keys, or the sandbox not answering) the history is skipped
and a printed line says so. A merchant that holds payouts already is left alone (idempotent).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from accounts.models import Merchant
from compliance.actors import Actor
from config.exceptions import ApplicationError
from payments import disputes as dispute_mirror
from payments import services
from payments.gateways import gateway_for
from payments.gateways.base import DisputeGateway
from payments.models import Customer, Dispute, Payment, Payout, ProcessorAccount
from payments.services.payouts import (
    MoneyRead,
    money_out_account,
    money_read_apply,
    money_read_payout,
    money_read_recent,
    payment_fees_backfill,
)

ACTOR = Actor.system("seed_demo")
MERCHANT = "demo"
CONTROL_TIMEOUT_SECONDS = 10
# Stripe's test card whose funds are available at once (no two-day wait), so a payout can
# carry them now; `pm_card_visa` waits, as a normal card payment does.
AVAILABLE_NOW = "pm_card_bypassPending"
WAITS = "pm_card_visa"
EVIDENCE = {
    "product_description": "Gift card for 27.50, sent by email on the day of purchase.",
    "customer_email_address": "hedy@example.test",
    "uncategorized_text": "The card was redeemed in our shop two days after it was sent.",
}


class DemoHistoryError(ApplicationError):
    """The sandbox refused a step of the demo history (it answered, then said no)."""

    code = "demo_history_failed"


@dataclass(frozen=True)
class Sale:
    email: str
    amount: int
    description: str
    payment_method: str = AVAILABLE_NOW
    refund: int = 0


PAID_OUT = (
    Sale("ada@example.test", 4_200, "Coffee beans, 1 kg"),
    Sale("grace@example.test", 12_900, "Espresso machine service", refund=1_500),
    Sale("alan@example.test", 3_150, "Nine flat whites"),
    Sale("hedy@example.test", 2_750, "Gift card"),
)
RETURNED = (
    Sale("linus@example.test", 8_400, "Office coffee, monthly"),
    Sale("ada@example.test", 1_890, "Pastries"),
)
IN_TRANSIT = (
    Sale("grace@example.test", 6_600, "Catering for 20"),
    Sale("alan@example.test", 2_300, "Beans subscription"),
)
NOT_PAID_OUT = (
    Sale("hedy@example.test", 5_400, "Grinder"),
    Sale("linus@example.test", 1_150, "Cold brew"),
    Sale("ada@example.test", 3_800, "Beans subscription", payment_method=WAITS),
)
OPEN_DISPUTE = ("Nine flat whites", "fraudulent")
WON_DISPUTE = ("Gift card", "product_not_received")
RETURN_CODE = "could_not_process"


class _SandboxControl:
    """The sandbox's control API over HTTP (the sandbox is another process: never imported)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - STRIPE_API_BASE, checked http(s)
            f"{self.base_url}/_sandbox/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=CONTROL_TIMEOUT_SECONDS) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise DemoHistoryError(f"the sandbox refused {method} {path}: {detail}") from exc
        except (OSError, ValueError) as exc:  # unreachable, timed out, or not JSON
            raise DemoHistoryError(f"the sandbox did not answer {method} {path}: {exc}") from exc

    def answers(self) -> bool:
        try:
            return bool(self._call("GET", "health").get("ok"))
        except DemoHistoryError:
            return False

    def stripe(self, kind: str, object_id: str, action: str, **body: Any) -> dict[str, Any]:
        found: dict[str, Any] = self._call("POST", f"stripe/{kind}/{object_id}/{action}", body)
        return found


def _control() -> _SandboxControl | None:
    base = str(settings.STRIPE_API_BASE or "")
    if not base.startswith(("http://", "https://")):
        return None
    control = _SandboxControl(base)
    return control if control.answers() else None


def _customer(merchant: Merchant, email: str) -> Customer:
    found = Customer.objects.filter(merchant=merchant, email=email).order_by("pk").first()
    if found is not None:
        return found
    return services.customer_create(
        merchant=merchant, actor=ACTOR, email=email, name=email.partition("@")[0].title()
    )


def _sell(
    merchant: Merchant, account: ProcessorAccount, sales: tuple[Sale, ...]
) -> dict[str, Payment]:
    """The sales as card payments (and refunds) on `account` through the services, by
    description."""
    made = {}
    for sale in sales:
        payment = services.payment_create(
            merchant=merchant,
            actor=ACTOR,
            amount=sale.amount,
            currency=merchant.default_currency,
            payment_method=sale.payment_method,
            customer=_customer(merchant, sale.email),
            description=sale.description,
            processor=account.processor,
        )
        if sale.refund:
            services.refund_create(payment=payment, actor=ACTOR, amount=sale.refund)
        made[sale.description] = payment
    return made


def _payout_now(control: _SandboxControl, account: str) -> str:
    """The automatic payout, run now; its id (the demo sweeps one currency: one payout)."""
    made = control.stripe("accounts", account, "payout_run")["payouts"]
    if len(made) != 1:
        raise DemoHistoryError(f"the demo payout run made {len(made)} payouts, not one")
    return str(made[0]["id"])


def _dispute(control: _SandboxControl, payment: Payment, reason: str) -> str:
    found = control.stripe("charges", payment.processor_charge_id, "dispute", reason=reason)
    return str(found["id"])


def _mirror_dispute(account: ProcessorAccount, payment: Payment, dispute_id: str) -> Dispute:
    gateway = gateway_for(account)
    if not isinstance(gateway, DisputeGateway):
        raise DemoHistoryError("the demo merchant's processor does not answer disputes")
    state = gateway.dispute_retrieve(account=account.processor_account_id, dispute=dispute_id)
    return dispute_mirror.dispute_apply_state(payment=payment, state=state, actor=ACTOR)


def _mirror_money(merchant: Merchant, payout_ids: list[str]) -> None:
    """Every payout with what it carries, then every balance transaction, then fees."""
    for payout_id in payout_ids:
        read = money_read_payout(merchant=merchant, payout_id=payout_id)
        money_read_apply(merchant=merchant, read=read, actor=ACTOR)
    everything = money_read_recent(merchant=merchant, since=datetime.fromtimestamp(0, tz=UTC))
    money_read_apply(merchant=merchant, read=MoneyRead(entries=everything.entries), actor=ACTOR)
    payment_fees_backfill(merchant=merchant)


def _history(merchant: Merchant, account: ProcessorAccount, control: _SandboxControl) -> None:
    acct = account.processor_account_id
    paid_out = _sell(merchant, account, PAID_OUT)
    paid = _payout_now(control, acct)
    control.stripe("payouts", paid, "move")  # submitted: in transit
    control.stripe("payouts", paid, "move")  # arrived: paid

    _sell(merchant, account, RETURNED)
    returned = _payout_now(control, acct)
    control.stripe("payouts", returned, "move")
    control.stripe("payouts", returned, "fail", failure_code=RETURN_CODE)

    open_payment, won_payment = paid_out[OPEN_DISPUTE[0]], paid_out[WON_DISPUTE[0]]
    _mirror_dispute(account, open_payment, _dispute(control, open_payment, OPEN_DISPUTE[1]))
    won = _mirror_dispute(account, won_payment, _dispute(control, won_payment, WON_DISPUTE[1]))
    services.dispute_evidence_submit(
        dispute=won,
        actor=ACTOR,
        request=None,
        text=EVIDENCE,
        documents=[],
        keep_copy=False,
        key=f"demo-evidence-{won.public_id}",
    )
    control.stripe("disputes", won.processor_dispute_id, "resolve", outcome="won")
    _mirror_dispute(account, won_payment, won.processor_dispute_id)

    _sell(merchant, account, IN_TRANSIT)
    in_transit = _payout_now(control, acct)
    control.stripe("payouts", in_transit, "move")

    _sell(merchant, account, NOT_PAID_OUT)
    _mirror_money(merchant, [paid, returned, in_transit])


def seed_demo_money(merchants: Mapping[str, Merchant]) -> list[str]:
    """The demo merchant's money history (see the module's docstring); lines to print."""
    merchant = merchants.get(MERCHANT)
    if merchant is None:
        return []
    if Payout.objects.filter(merchant=merchant).exists():
        return [f"{MERCHANT}: payouts already present"]
    account = money_out_account(merchant)
    # The control API below is the Stripe stand-in's.
    if account is None or account.processor != "stripe":
        return [f"{MERCHANT}: no payout history: it is made on a Stripe account"]
    control = _control()
    if control is None:
        return [
            f"{MERCHANT}: no payout history: it is made on the processor sandbox"
            " (STRIPE_API_BASE), which is not answering"
        ]
    _history(merchant, account, control)
    payouts = Payout.objects.filter(merchant=merchant).count()
    disputes = Dispute.objects.filter(merchant=merchant).count()
    return [
        f"{MERCHANT}: {payouts} payouts (paid, failed, in transit), {disputes} disputes"
        " (one needs a response, one won), an available and a pending balance"
    ]
