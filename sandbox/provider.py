"""What a processor stand-in plugs into the sandbox server: its routes, control API and state.

Stripe lives in `sandbox/stripe/`; Plaid will live beside it in `sandbox/plaid/` and plug in the
same way, sharing the clock, the fault switches and the webhook dispatcher.
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import Clock
from sandbox.faults import FaultInjector
from sandbox.webhooks import WebhookDispatcher
from sandbox.wire import Request, Response, json_response


@dataclass
class Services:
    """Shared by every provider in one sandbox process."""

    clock: Clock
    faults: FaultInjector
    webhooks: WebhookDispatcher
    # Set whenever persistent state changed, so the saver writes the state file soon after.
    dirty: threading.Event = field(default_factory=threading.Event)


class ControlError(Exception):
    """A bad control-API call: answered as {"error": message} with the status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def control_ok(payload: Any) -> Response:
    return json_response(200, payload)


class Provider(abc.ABC):
    """One processor's wire format. Subclasses must be thread-safe: every request is a thread."""

    name: str

    def __init__(self, services: Services) -> None:
        self.services = services

    @abc.abstractmethod
    def handles(self, path: str) -> bool:
        """Whether this provider owns the (non-control) URL path."""

    @abc.abstractmethod
    def handle(self, request: Request) -> Response:
        """Answer one API or page request in the processor's own wire format."""

    @abc.abstractmethod
    def control(self, request: Request, path: str, payload: Any) -> Response:
        """Answer /_sandbox/<name>/<path> (`path` is the rest); raise ControlError for bad calls."""

    @abc.abstractmethod
    def summary(self) -> dict[str, Any]:
        """Counts and settings for tests to inspect."""

    @abc.abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state for the state file."""

    @abc.abstractmethod
    def restore(self, data: dict[str, Any]) -> None:
        """Load a snapshot written by `snapshot`."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every object (the control API's reset)."""

    def clock_moved(self) -> None:  # noqa: B027 (optional hook: most stand-ins act lazily)
        """The sandbox clock was advanced: apply what became due (nothing by default)."""
