"""Demo payments for `seed_demo`: processors, customers, card payments, a link.

Everything goes through the real services and the processors (the sandbox under `make run`),
so the dashboard's refunds and captures work on the demo rows exactly as on real ones.
`acme` takes its payments on Braintree (primary, Stripe as its secondary); `demo` on Stripe
with Braintree as its secondary. The sandbox has one Braintree merchant
(`ledgerline_sandbox_merchant`) and a processor account belongs to one Ledgerline merchant, so
`acme` (seeded first) holds it and `demo` gets Braintree only when `acme` does not: the line
printed says which happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from accounts.models import Merchant
from compliance.actors import Actor
from config.exceptions import ApplicationError
from payments import services
from payments.exceptions import CardDeclinedError
from payments.models import CaptureMethod, Payment, ProcessorAccount, RoutingRank
from payments.routing import processor_routing_set

ACTOR = Actor.system("seed_demo")

# The sandbox's default Braintree merchant and keys (docs/sandbox.md, "Braintree").
SANDBOX_BRAINTREE = {
    "merchant_id": "ledgerline_sandbox_merchant",
    "public_key": "ledgerline_sandbox_public",
    "private_key": "ledgerline_sandbox_private",
}


@dataclass(frozen=True)
class DemoPayment:
    email: str
    amount: int
    payment_method: str
    capture_method: str = CaptureMethod.AUTOMATIC
    refund: int = 0


DEMO_PAYMENTS = (
    DemoPayment("ada@example.test", 1250, "pm_card_visa"),
    DemoPayment("grace@example.test", 4800, "pm_card_mastercard", refund=800),
    DemoPayment("alan@example.test", 2399, "pm_card_amex"),
    DemoPayment("ada@example.test", 15000, "pm_card_visa", capture_method=CaptureMethod.MANUAL),
    DemoPayment("linus@example.test", 990, "pm_card_chargeDeclinedInsufficientFunds"),
)
# The same orders on Braintree, paid with its test nonces. No refunds: Braintree refunds a sale
# only once it has settled, which the sandbox's clock does later.
BRAINTREE_DEMO_PAYMENTS = (
    DemoPayment("ada@example.test", 1250, "fake-valid-visa-nonce"),
    DemoPayment("grace@example.test", 4800, "fake-valid-mastercard-nonce"),
    DemoPayment("alan@example.test", 2399, "fake-valid-amex-nonce"),
    DemoPayment(
        "ada@example.test", 15000, "fake-valid-visa-nonce", capture_method=CaptureMethod.MANUAL
    ),
    DemoPayment("linus@example.test", 990, "fake-processor-declined-visa-nonce"),
)


@dataclass(frozen=True)
class DemoRouting:
    primary: str
    secondary: str | None


DEMO_ROUTING = {
    "acme": DemoRouting(primary="braintree", secondary="stripe"),
    "demo": DemoRouting(primary="stripe", secondary="braintree"),
}


def _braintree_connected(merchant: Merchant) -> tuple[bool, str]:
    """Connect the sandbox's Braintree merchant, unless another merchant holds it already."""
    held = ProcessorAccount.objects.filter(
        processor="braintree", processor_account_id=SANDBOX_BRAINTREE["merchant_id"]
    ).first()
    if held is not None:
        if held.merchant_id == merchant.pk:
            return True, ""
        return False, "the sandbox's one Braintree merchant is another demo merchant's"
    try:
        services.braintree_account_connect(
            merchant=merchant,
            merchant_id=SANDBOX_BRAINTREE["merchant_id"],
            public_key=SANDBOX_BRAINTREE["public_key"],
            private_key=SANDBOX_BRAINTREE["private_key"],
            actor=ACTOR,
        )
    except ApplicationError as exc:
        return False, exc.message
    return True, ""


def _seed_processors(merchant: Merchant) -> list[str]:
    """The merchant's processors and routing as `DEMO_ROUTING` says (idempotent)."""
    services.merchant_connect_account_ensure(merchant=merchant, actor=ACTOR)
    routing = DEMO_ROUTING.get(merchant.slug)
    if routing is None:
        return []
    notes = []
    primary, secondary = routing.primary, routing.secondary
    if "braintree" in (primary, secondary):
        connected, reason = _braintree_connected(merchant)
        if not connected:
            notes.append(f"{merchant.slug}: Braintree not connected: {reason}")
            if primary == "braintree":
                primary, secondary = "stripe", None
            elif secondary == "braintree":
                secondary = None
    wanted = {primary: RoutingRank.PRIMARY}
    if secondary is not None:
        wanted[secondary] = RoutingRank.SECONDARY
    ranked = dict(
        ProcessorAccount.objects.filter(merchant=merchant, routing_rank__isnull=False).values_list(
            "processor", "routing_rank"
        )
    )
    if ranked != wanted:
        processor_routing_set(
            merchant=merchant, primary=primary, secondary=secondary, actor=ACTOR, step_up=False
        )
    fallback = f", {secondary} while it is down" if secondary else ""
    notes.append(f"{merchant.slug}: takes payments on {primary}{fallback}")
    return notes


def _seed_merchant(merchant: Merchant) -> list[str]:
    notes = _seed_processors(merchant)
    if Payment.objects.filter(merchant=merchant).exists():
        return [*notes, f"{merchant.slug}: demo payments already present"]
    primary = ProcessorAccount.objects.get(merchant=merchant, routing_rank=RoutingRank.PRIMARY)
    specs = BRAINTREE_DEMO_PAYMENTS if primary.processor == "braintree" else DEMO_PAYMENTS
    customers = {}
    for spec in specs:
        if spec.email not in customers:
            customers[spec.email] = services.customer_create(
                merchant=merchant, actor=ACTOR, email=spec.email, name=spec.email.split("@")[0]
            )
        try:
            payment = services.payment_create(
                merchant=merchant,
                actor=ACTOR,
                amount=spec.amount,
                currency=merchant.default_currency,
                payment_method=spec.payment_method,
                capture_method=spec.capture_method,
                customer=customers[spec.email],
                description="Demo order",
            )
        except CardDeclinedError:
            continue  # the declined attempt is recorded on the payment, as in real life
        if spec.refund:
            services.refund_create(payment=payment, actor=ACTOR, amount=spec.refund)
    services.payment_link_create(
        merchant=merchant,
        actor=ACTOR,
        amount=2500,
        currency=merchant.default_currency,
        description="Demo gift card",
        reusable=True,
    )
    count = Payment.objects.filter(merchant=merchant).count()
    return [
        *notes,
        f"{merchant.slug}: {count} demo payments on {primary.processor}, "
        f"{len(customers)} customers, 1 payment link",
    ]


def seed_demo_payments(merchants: Mapping[str, Merchant]) -> list[str]:
    # acme first: its payments are the ones on the sandbox's one Braintree merchant.
    ordered = sorted(merchants.values(), key=lambda merchant: merchant.slug != "acme")
    return [line for merchant in ordered for line in _seed_merchant(merchant)]
