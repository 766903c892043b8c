"""The processor boundary: services reach processors only through the registry and the neutral
protocol; only a gateway package imports its processor's SDK or its own modules."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from payments.gateways import UnknownProcessorError, gateway_for, gateway_named, processors
from payments.gateways.base import DisputeGateway, MoneyOutGateway, PaymentGateway
from payments.gateways.braintree import BraintreeGateway
from payments.gateways.stripe import StripeGateway, charge_from_dict, refund_from_dict
from payments.models import Processor, ProcessorAccount
from payments.state import PaymentStatus, RefundStatus

ROOT = Path(__file__).resolve().parents[2]
# Not product code: tests, benchmarks, the stand-in processors, the virtualenv.
NOT_PRODUCT = {"tests", "bench", "sandbox", ".venv", "var", "node_modules"}
# Stripe's inbound-event handlers and view, which parse Stripe's payloads with the gateway's
# parsers (payload parsing is moving into gateways/stripe/events.py, issue #15 item 1).
STRIPE_EVENT_CODE = {
    "payments/event_handlers.py",
    "payments/payout_events.py",
    "payments/webhook_views.py",
}


def _product_modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in NOT_PRODUCT or "migrations" in relative.parts:
            continue
        found.append((relative.as_posix(), ast.parse(path.read_text(encoding="utf-8"))))
    return found


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_the_stripe_gateway_imports_stripe_or_its_own_package():
    """Given every product module, when its imports are read, then `stripe` and
    `payments.gateways.stripe` are imported only inside payments/gateways/stripe/."""
    offenders = []
    for name, tree in _product_modules():
        if name.startswith("payments/gateways/stripe/"):
            continue
        for module in _imported(tree):
            sdk = module == "stripe" or module.startswith("stripe.")
            package = module == "payments.gateways.stripe" or module.startswith(
                "payments.gateways.stripe."
            )
            if sdk or (package and name not in STRIPE_EVENT_CODE):
                offenders.append(f"{name}: {module}")
    assert offenders == []


def test_services_name_no_processor():
    """The services package speaks to gateways through the registry only."""
    services = ROOT / "payments" / "services"
    for path in services.glob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        assert "import stripe" not in text, path.name
        assert "gateways.stripe" not in text, path.name


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


def test_every_processor_choice_has_a_gateway_implementing_the_protocol():
    """Each `Processor` the database admits has a registered gateway whose methods take the
    protocol's parameters, and so do the optional capabilities it claims (answering
    disputes, mirroring money out)."""
    assert sorted(processors()) == sorted(Processor.values)
    assert {"charge_create", "charge_capture", "charge_cancel", "refund_create"} <= set(
        _methods(PaymentGateway)
    )
    for processor in Processor.values:
        gateway = gateway_named(processor)
        assert gateway.name == processor
        claimed = [PaymentGateway] + [
            capability
            for capability in (DisputeGateway, MoneyOutGateway)
            if isinstance(gateway, capability)
        ]
        for protocol in claimed:
            for name, signature in _methods(protocol).items():
                implemented = inspect.signature(getattr(type(gateway), name))
                assert list(implemented.parameters) == list(signature.parameters), name
    # mypy checks the classes against the protocols
    disputes: DisputeGateway = StripeGateway()
    money_out: MoneyOutGateway = StripeGateway()
    assert disputes.name == money_out.name == "stripe"
    braintree_disputes: DisputeGateway = BraintreeGateway()
    assert braintree_disputes.name == "braintree"
    assert isinstance(gateway_named("braintree"), DisputeGateway)
    assert not isinstance(gateway_named("braintree"), MoneyOutGateway)


def test_the_registry_picks_by_the_processor_column_and_refuses_an_unknown_one():
    account = ProcessorAccount(processor=Processor.STRIPE, processor_account_id="acct_1")
    assert gateway_for(account) is gateway_named("stripe")
    with pytest.raises(UnknownProcessorError):
        gateway_named("nobody")


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_stripe_intent_statuses_map_to_payment_statuses(status):
    """PaymentStatus keeps Stripe's PaymentIntent names: each maps to itself."""
    assert charge_from_dict({"id": "pi_1", "status": status.value}).status is status


@pytest.mark.parametrize("status", list(RefundStatus))
def test_stripe_refund_statuses_map_to_refund_statuses(status):
    assert refund_from_dict({"id": "re_1", "status": status.value}).status is status


def test_a_status_the_gateway_does_not_know_maps_to_none():
    """An unknown state is not guessed: the services leave the payment as it is."""
    assert charge_from_dict({"id": "pi_1", "status": "requires_reauthorization"}).status is None
    assert refund_from_dict({"id": "re_1", "status": "reversed"}).status is None
