"""One-time submission tokens for server-rendered forms that move money.

Every form that moves money (dashboard refund, capture, cancel, ACH debit, the micro-deposit
code) carries a hidden `submission_token`, and its view runs its action through
`form_submit`. The token is signed and bound to the action, the object it acts on and the
person (session user); its submission is one `IdempotencyRecord` of the merchant (the API's
idempotency layer, so the same lease, recovery points and 24-hour retention apply):
- a double click, a resubmit or a back-button repost of the same token replays the first
  outcome (its message), and a concurrent second post waits for the first to finish;
- the token of a form stays in the session until its submission has a final outcome, so the
  page shown after an error, a timeout or a crashed request renders the SAME token: pressing
  the button again resumes the first attempt (with the object it already created and that
  object's processor idempotency key) instead of starting a second money movement;
- once the outcome is final (done, or refused for a reason a retry will not change), the
  session forgets the token and the next rendering of the form mints a new one.

It lives beside the idempotency layer it is built on, in `api`, because payments' and
banking's dashboards both use it and neither may import the other's internals.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core import signing
from django.http import HttpRequest

from accounts.models import Merchant
from api.exceptions import IdempotencyKeyInUseError, InvalidRequestError
from api.idempotency import RETENTION, idempotent_execute_waiting
from api.models import IdempotencyRecord
from config.exceptions import ApplicationError

FIELD_NAME = "submission_token"
# The module's first home: a new salt would void every form open in a browser at deploy time.
_SALT = "payments.form_tokens"
_SESSION_KEY = "form_submission_tokens"
# Shorter than the records' retention: a token must never outlive the record of its outcome,
# or a very late resubmit would be a new action. 12 h is also a session's longest life.
MAX_AGE = timedelta(hours=12)
_MAX_LENGTH = 400
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
# Forms a session keeps tokens for at once; the oldest is forgotten first.
_SESSION_LIMIT = 50
# A double click's second post waits this long for the first post's outcome.
IN_FLIGHT_WAIT_SECONDS = 20.0

assert MAX_AGE < RETENTION  # noqa: S101 - a configuration invariant, checked at import


class FormTokenError(InvalidRequestError):
    code = "submission_token_invalid"
    default_message = "This form has expired; nothing was changed. Reload the page and try again."


@dataclass(frozen=True)
class FormOutcome:
    """What the person is told after a submission: a message level, its sentence, and the
    page to show next when it is not the form's own (e.g. the payment a debit created)."""

    level: str
    message: str
    next_url: str = ""

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "message": self.message, "next_url": self.next_url}


_LEVELS = {
    "success": messages.SUCCESS,
    "info": messages.INFO,
    "warning": messages.WARNING,
    "error": messages.ERROR,
}

Operation = Callable[[IdempotencyRecord | None], FormOutcome]


def _slot(action: str, target: str) -> str:
    return f"{action}:{target}"


def _person(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return str(user.pk) if user is not None and user.is_authenticated else ""


def form_token(request: HttpRequest, *, action: str, target: str) -> str:
    """The token to render into the form for `action` on `target` (a public id).

    The same token is rendered again until a submission of it has a final outcome.
    """
    tokens: dict[str, str] = dict(request.session.get(_SESSION_KEY) or {})
    slot = _slot(action, target)
    current = tokens.get(slot)
    if current is not None and _read(current, action=action, target=target, request=request):
        return current
    token = signing.dumps(
        {"a": action, "o": target, "u": _person(request), "n": secrets.token_urlsafe(18)},
        salt=_SALT,
        compress=False,
    )
    tokens.pop(slot, None)
    tokens[slot] = token
    while len(tokens) > _SESSION_LIMIT:
        tokens.pop(next(iter(tokens)))
    request.session[_SESSION_KEY] = tokens
    return token


def _read(token: str, *, action: str, target: str, request: HttpRequest) -> str | None:
    """The token's nonce if we issued it for this action, object and person, and it is fresh."""
    if not token or len(token) > _MAX_LENGTH:
        return None
    try:
        data = signing.loads(token, salt=_SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    if (data.get("a"), data.get("o"), data.get("u")) != (action, target, _person(request)):
        return None
    nonce = data.get("n")
    return nonce if isinstance(nonce, str) and _NONCE_RE.fullmatch(nonce) else None


def _forget(request: HttpRequest, *, action: str, target: str, token: str) -> None:
    tokens: dict[str, str] = dict(request.session.get(_SESSION_KEY) or {})
    if tokens.get(_slot(action, target)) == token:
        del tokens[_slot(action, target)]
        request.session[_SESSION_KEY] = tokens


def form_submit(
    request: HttpRequest,
    *,
    merchant: Merchant,
    action: str,
    target: str,
    operation: Operation,
    error_text: Callable[[ApplicationError], str],
) -> FormOutcome:
    """Run `operation` once for the posted token and show its outcome as a message.

    `operation(record)` gets the submission's record: an operation that creates an object
    marks it (`idempotency_mark_object_created`) before it calls the processor, and a resumed
    submission (`record.target_public_id` set) continues with that object. A final
    `ApplicationError` (4xx) is the stored outcome; a retryable one (processor unavailable or
    outcome unknown) is shown, and the form keeps its token so that the next press resumes.
    """
    token = request.POST.get(FIELD_NAME, "")
    nonce = _read(token, action=action, target=target, request=request)
    if nonce is None:
        outcome = FormOutcome("error", FormTokenError().message)
        _show(request, outcome)
        return outcome

    def run(record: IdempotencyRecord | None) -> tuple[int, Any]:
        return 200, operation(record).to_json()

    try:
        result = idempotent_execute_waiting(
            merchant=merchant,
            key=f"form_{nonce}",
            method="POST",
            path=f"form:{action}:{target}",
            body={"person": _person(request)},
            operation=run,
            error_renderer=lambda exc: FormOutcome("error", error_text(exc)).to_json(),
            wait_seconds=IN_FLIGHT_WAIT_SECONDS,
        )
    except IdempotencyKeyInUseError:
        outcome = FormOutcome(
            "warning",
            "This form is still being processed; nothing will happen twice. "
            "Refresh the page in a moment to see the result.",
        )
        _show(request, outcome)
        return outcome
    except ApplicationError as exc:
        # Retryable: the token stays in the session, so pressing again resumes this attempt.
        outcome = FormOutcome("error", error_text(exc))
        _show(request, outcome)
        return outcome
    _forget(request, action=action, target=target, token=token)
    body = result.body if isinstance(result.body, dict) else {}
    outcome = FormOutcome(
        str(body.get("level") or "error"),
        str(body.get("message") or "The form could not be processed."),
        str(body.get("next_url") or ""),
    )
    _show(request, outcome)
    return outcome


def _show(request: HttpRequest, outcome: FormOutcome) -> None:
    messages.add_message(request, _LEVELS.get(outcome.level, messages.INFO), outcome.message)
