"""Payment gateways and the registry that picks one: each processor SDK lives behind its own
package (`gateways/stripe/`), which nothing else imports; services ask this registry.

`gateway_for(account)` is the gateway of the processor that holds a merchant's account (or a
payment: refunds, captures and disputes go to the processor that charged);
`gateway_named(processor)` the one for a `Processor` value. A second processor is a package
implementing `base.PaymentGateway` plus one line in `_IMPLEMENTATIONS` and one `Processor`
choice (docs/payments.md, "Processor boundary").
"""

from __future__ import annotations

import importlib
import threading
from typing import Protocol

from payments.gateways.base import PaymentGateway

# Import paths rather than imports: a processor's SDK is loaded only when it is first used,
# and this registry stays the one place outside the packages that names them.
_IMPLEMENTATIONS: dict[str, str] = {
    "stripe": "payments.gateways.stripe.api:StripeGateway",
    "braintree": "payments.gateways.braintree.api:BraintreeGateway",
}

# The processor a merchant's first account is opened with (routing between several is issue
# #17's): named here so no service or page names a processor.
DEFAULT_PROCESSOR = "stripe"

_lock = threading.Lock()
_instances: dict[str, PaymentGateway] = {}


class UnknownProcessorError(LookupError):
    """A row names a processor Ledgerline has no gateway for (a programming error: the
    database's check constraint admits only registered processors)."""


class HoldsProcessor(Protocol):
    """Anything that says which processor holds it: ProcessorAccount, Payment, Customer."""

    @property
    def processor(self) -> str: ...


def gateway_named(processor: str) -> PaymentGateway:
    """The gateway of `processor` ("stripe"), one instance per process."""
    with _lock:
        gateway = _instances.get(processor)
        if gateway is None:
            path = _IMPLEMENTATIONS.get(processor)
            if path is None:
                raise UnknownProcessorError(f"No payment gateway for processor {processor!r}")
            module_name, _, class_name = path.partition(":")
            gateway = getattr(importlib.import_module(module_name), class_name)()
            _instances[processor] = gateway
        return gateway


def gateway_for(holder: HoldsProcessor) -> PaymentGateway:
    """The gateway of the processor that holds `holder` (an account, a payment, a customer)."""
    return gateway_named(holder.processor)


def processors() -> list[str]:
    """The processors a gateway is registered for."""
    return list(_IMPLEMENTATIONS)
