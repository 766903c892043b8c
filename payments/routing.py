"""Which processor takes a merchant's payment: its primary, or its secondary while the primary
is down.

A merchant has one account per connected processor (`ProcessorAccount`); the one ranked
primary takes payments, the one ranked secondary is the fallback. A processor is down when its
circuit breaker is open in this process (`PaymentGateway.ensure_available`, which refuses
without a network call) or when platform staff marked it down (`ProcessorOutage`, in the
admin). Deciding reads only memory: the accounts arrive with the query the pay page always
made (`checkout_accounts`) and each process keeps the outage marks for a few seconds, so
failover costs the page no round trip (bench/routing.py measures it).

The pay page fails over (the customer types the card into whichever processor's form is
shown, so the payment method is made for that processor). The API does not: a payment
method or nonce the merchant's server sends was made by one processor and can only be charged
there, so it goes to the processor named (`processor`) or the primary.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Merchant
from compliance.actors import Actor
from compliance.services import audit_record
from payments.exceptions import InvalidPaymentRequestError, ProcessorUnavailableError
from payments.gateways import DEFAULT_PROCESSOR, gateway_named, processors
from payments.models import ProcessorAccount, ProcessorOutage, RoutingRank

# How long a process keeps the outage marks it read: a mark reaches every web process within
# this many seconds. Kept in process memory, not the shared cache, so the decision costs the
# pay page no round trip at all (one query per process every few seconds).
OUTAGE_MARKS_SECONDS = 5.0


@dataclass
class _OutageMarks:
    lock: threading.Lock = field(default_factory=threading.Lock)
    marked: frozenset[str] = frozenset()
    read_at: float = -math.inf


_outage_marks = _OutageMarks()


class ProcessorNotConnectedError(InvalidPaymentRequestError):
    code = "processor_not_connected"
    default_message = "This merchant has not connected that processor."


@dataclass(frozen=True)
class Route:
    """The account that takes the payment, and whether it stands in for a down primary."""

    account: ProcessorAccount
    failed_over: bool = False

    @property
    def processor(self) -> str:
        return self.account.processor


def processors_marked_down() -> frozenset[str]:
    """The processors platform staff marked down (read at most every OUTAGE_MARKS_SECONDS)."""
    marks = _outage_marks
    if time.monotonic() - marks.read_at < OUTAGE_MARKS_SECONDS:
        return marks.marked
    with marks.lock:
        if time.monotonic() - marks.read_at >= OUTAGE_MARKS_SECONDS:
            marks.marked = frozenset(
                ProcessorOutage.objects.filter(marked_down=True).values_list("processor", flat=True)
            )
            marks.read_at = time.monotonic()
        return marks.marked


def processor_outage_marks_forget() -> None:
    """Read the marks again on next use (this process changed them; tests)."""
    _outage_marks.read_at = -math.inf


def processor_is_up(processor: str, *, marked_down: frozenset[str]) -> bool:
    """Not marked down by an operator and its breaker closed (or due a probe) here."""
    if processor in marked_down:
        return False
    try:
        gateway_named(processor).ensure_available()
    except ProcessorUnavailableError:
        return False
    return True


def route_candidates(accounts: Sequence[ProcessorAccount]) -> Iterator[Route]:
    """The routes to try, best first (lazily: the first costs only its own checks).

    Ranked chargeable accounts whose processor is up, in rank order; then the primary even
    though it is down (its form is shown and a payment is refused with "try again", rather
    than the page closing). Nothing when the merchant has no chargeable account to route to.
    A merchant that never ranked its accounts (one opened before routing existed) pays at the
    default processor, as the payment services do."""
    ranked = sorted(
        (a for a in accounts if a.routing_rank is not None and a.charges_enabled),
        key=lambda a: a.routing_rank or 0,
    )
    if not ranked and not any(a.routing_rank is not None for a in accounts):
        ranked = [a for a in accounts if a.processor == DEFAULT_PROCESSOR and a.charges_enabled]
        yield from (Route(account=a) for a in ranked[:1])
        return
    if not ranked:
        return
    primary = ranked[0]
    if primary.routing_rank != RoutingRank.PRIMARY:
        # The primary cannot charge (or was disconnected): the secondary is the only route.
        yield Route(account=primary, failed_over=True)
        return
    marked_down = processors_marked_down()
    primary_up = False
    for account in ranked:
        if processor_is_up(account.processor, marked_down=marked_down):
            primary_up = primary_up or account is primary
            yield Route(account=account, failed_over=account is not primary)
    if not primary_up:
        yield Route(account=primary)


def route_choose(accounts: Sequence[ProcessorAccount]) -> Route | None:
    """The best route (`route_candidates`' first), None when there is none."""
    return next(route_candidates(accounts), None)


def checkout_accounts(merchant: Merchant) -> list[ProcessorAccount]:
    """The merchant's processor accounts (one query, as the pay page always made)."""
    return list(ProcessorAccount.objects.filter(merchant=merchant))


def checkout_routes(*, merchant: Merchant) -> Iterator[Route]:
    """Whose card form the pay page shows now: the first of these whose form can be had."""
    return route_candidates(checkout_accounts(merchant))


def merchant_processor_account(
    *, merchant: Merchant, processor: str | None = None
) -> ProcessorAccount | None:
    """The merchant's account at `processor`, or its primary when none is named (the API's
    default). None when there is none."""
    accounts = ProcessorAccount.objects.filter(merchant=merchant)
    if processor is None:
        return accounts.filter(routing_rank=RoutingRank.PRIMARY).first()
    return accounts.filter(processor=processor).first()


def primary_processor(*, merchant: Merchant) -> str:
    """The processor of the merchant's primary account (the default one while it has none)."""
    account = merchant_processor_account(merchant=merchant)
    return account.processor if account is not None else DEFAULT_PROCESSOR


def api_processor_account(*, merchant: Merchant, processor: str | None) -> ProcessorAccount | None:
    """For `POST /api/v1/payments`: the named processor's account (400 when that processor is
    unknown or not connected), or None to let the payment service use the primary."""
    if processor is None:
        return None
    if processor not in processors():
        raise ProcessorNotConnectedError(
            f"Unknown processor {processor!r}: use one of {', '.join(processors())}.",
            param="processor",
        )
    account = merchant_processor_account(merchant=merchant, processor=processor)
    if account is None:
        raise ProcessorNotConnectedError(param="processor")
    return account


def processor_outage_set(
    *, processor: str, marked_down: bool, note: str = "", actor: Actor
) -> ProcessorOutage:
    """Platform staff mark a processor down (or up again) for every merchant; audited."""
    with transaction.atomic():
        outage, _ = ProcessorOutage.objects.select_for_update().get_or_create(processor=processor)
        before = outage.marked_down
        outage.marked_down = marked_down
        outage.note = note[:200]
        outage.save(update_fields=["marked_down", "note", "updated_at"])
        audit_record(
            action="processor.marked_down" if marked_down else "processor.marked_up",
            actor=actor,
            target_type="processor",
            target_id=processor,
            payload={"marked_down": marked_down, "was_marked_down": before},
        )
        # This process reads the marks again now and again at commit: a reader between the two
        # may have kept the marks as they were before this transaction.
        processor_outage_marks_forget()
        transaction.on_commit(processor_outage_marks_forget)
    return outage


class RoutingChoiceError(InvalidPaymentRequestError):
    code = "routing_invalid"
    default_message = "Choose two different connected processors."


def processor_routing_set(
    *,
    merchant: Merchant,
    primary: str,
    secondary: str | None,
    actor: Actor,
    request: HttpRequest | None = None,
    step_up: bool = True,
) -> list[ProcessorAccount]:
    """Rank the merchant's connected accounts: `primary` takes payments, `secondary` (or none)
    takes over while the primary is down; any other account is kept but unused. Audited."""
    if primary == secondary:
        raise RoutingChoiceError(param="secondary")
    with transaction.atomic():
        accounts = {
            a.processor: a
            for a in ProcessorAccount.objects.select_for_update().filter(merchant=merchant)
        }
        chosen = {primary: RoutingRank.PRIMARY}
        if secondary is not None:
            chosen[secondary] = RoutingRank.SECONDARY
        for processor in chosen:
            if processor not in accounts:
                raise ProcessorNotConnectedError(
                    param="primary" if processor == primary else "secondary"
                )
        before = {p: a.routing_rank for p, a in accounts.items()}
        # Clear first: the (merchant, rank) constraint holds after every statement.
        ProcessorAccount.objects.filter(merchant=merchant).update(routing_rank=None)
        for processor, rank in chosen.items():
            ProcessorAccount.objects.filter(pk=accounts[processor].pk).update(routing_rank=rank)
        audit_record(
            action="merchant.processor_routing_update",
            request=request,
            actor=actor,
            merchant_id=merchant.public_id,
            target_type="merchant",
            target_id=merchant.public_id,
            payload={
                "primary": primary,
                "secondary": secondary or "",
                "primary_before": next(
                    (p for p, r in before.items() if r == RoutingRank.PRIMARY), ""
                ),
                "secondary_before": next(
                    (p for p, r in before.items() if r == RoutingRank.SECONDARY), ""
                ),
                "step_up": step_up,
            },
        )
    return list(ProcessorAccount.objects.filter(merchant=merchant).order_by("routing_rank"))
