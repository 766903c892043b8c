"""Demo payments for `seed_demo`: processors, customers, card payments, a link.

Everything goes through the real services and the processors (the sandbox under `make run`),
so the dashboard's refunds and captures work on the demo rows exactly as on real ones.
`acme` takes its payments on Braintree (primary, Stripe as its secondary); `demo` on Stripe
with Braintree as its secondary. A Braintree merchant belongs to one Ledgerline merchant, so
each has its own in the sandbox: `acme` the default one (`ledgerline_sandbox_merchant`, USD),
`demo` the sandbox's demo merchant (`ledgerline_sandbox_demo`, with a GBP merchant account).
When Braintree cannot be connected (keys refused, not reachable, held by another merchant) the
merchant takes payments on Stripe alone and the printed line says why.
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


@dataclass(frozen=True)
class SandboxBraintree:
    """A Braintree merchant of the sandbox and its keys (docs/sandbox.md, "Braintree")."""

    merchant_id: str
    public_key: str
    private_key: str


# Each demo merchant's own sandbox Braintree merchant (one account per Ledgerline merchant).
SANDBOX_BRAINTREE = {
    "acme": SandboxBraintree(
        "ledgerline_sandbox_merchant", "ledgerline_sandbox_public", "ledgerline_sandbox_private"
    ),
    "demo": SandboxBraintree(
        "ledgerline_sandbox_demo",
        "ledgerline_sandbox_demo_public",
        "ledgerline_sandbox_demo_private",
    ),
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
    """Connect the merchant's sandbox Braintree merchant, once: a later run finds it connected
    and stores no new keys."""
    sandbox = SANDBOX_BRAINTREE.get(merchant.slug)
    if sandbox is None:
        return False, "the sandbox has no Braintree merchant for it"
    held = ProcessorAccount.objects.filter(
        processor="braintree", processor_account_id=sandbox.merchant_id
    ).first()
    if held is not None:
        if held.merchant_id == merchant.pk:
            return True, ""
        return False, f"the sandbox's Braintree merchant {sandbox.merchant_id} is another's"
    try:
        services.braintree_account_connect(
            merchant=merchant,
            merchant_id=sandbox.merchant_id,
            public_key=sandbox.public_key,
            private_key=sandbox.private_key,
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
    return [line for merchant in merchants.values() for line in _seed_merchant(merchant)]
