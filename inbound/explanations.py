"""What the Developers page tells a merchant about an event's outcome: a code and a sentence.

The event row keeps the handler's note or the exception text for platform staff (the admin,
the logs); a merchant reads a stable code to search for and a sentence saying what happened
and whether anything is needed from them, never an exception's text.
"""

from __future__ import annotations

from dataclasses import dataclass

from inbound.models import InboundEvent, InboundEventStatus

_NOTHING_CHANGED = "Nothing was changed, and nothing is needed from you."
# Handlers' notes for events that needed no work (payments' and banking's handlers), by note.
_IGNORED: dict[str, tuple[str, str]] = {
    "unhandled event type": (
        "event_type_not_used",
        "Ledgerline does not use this type of event, so there was nothing to do. This is "
        "normal: processors send many types of event.",
    ),
    "no merchant for this account": (
        "account_not_connected",
        f"The event is for a processor account not connected to a merchant. {_NOTHING_CHANGED}",
    ),
    "not a Ledgerline payment": (
        "payment_not_from_ledgerline",
        f"The event is about a payment made outside Ledgerline. {_NOTHING_CHANGED}",
    ),
    "charge without a payment intent": (
        "charge_without_payment",
        f"The charge is not part of a Ledgerline payment. {_NOTHING_CHANGED}",
    ),
    "not a Ledgerline connected account": (
        "account_not_connected",
        f"The event is about an account Ledgerline does not manage. {_NOTHING_CHANGED}",
    ),
    "not a SetupIntent of a Ledgerline merchant": (
        "setup_not_from_ledgerline",
        f"The event is about a bank setup made outside Ledgerline. {_NOTHING_CHANGED}",
    ),
    "not a Ledgerline bank verification": (
        "verification_not_from_ledgerline",
        f"The event is about a bank verification Ledgerline did not start. {_NOTHING_CHANGED}",
    ),
    "unknown item": (
        "bank_connection_unknown",
        f"The event is about a bank connection Ledgerline does not hold. {_NOTHING_CHANGED}",
    ),
}


@dataclass(frozen=True)
class EventExplanation:
    code: str
    sentence: str


def inbound_event_explain(event: InboundEvent) -> EventExplanation | None:
    """The code and sentence for an event's outcome; None when there is nothing to explain."""
    if event.status == InboundEventStatus.IGNORED:
        code, sentence = _IGNORED.get(
            event.last_error, ("nothing_to_do", f"The event needed no work. {_NOTHING_CHANGED}")
        )
        return EventExplanation(code, sentence)
    if event.status == InboundEventStatus.FAILED:
        if event.last_error.startswith("EventNotReadyError"):
            return EventExplanation(
                "waiting_for_related_object",
                "The payment or account this event is about has not reached Ledgerline yet. "
                "The event is retried automatically; nothing is needed from you.",
            )
        return EventExplanation(
            "processing_retrying",
            f"Ledgerline could not apply this event on attempt {event.attempts}. It is retried "
            "automatically with growing waits; nothing is needed from you.",
        )
    if event.status == InboundEventStatus.DEAD:
        return EventExplanation(
            "processing_stopped",
            f"Ledgerline stopped retrying after {event.attempts} attempts. Platform support "
            "has the details and can apply it again once the cause is fixed; contact them "
            "with the event id.",
        )
    return None
