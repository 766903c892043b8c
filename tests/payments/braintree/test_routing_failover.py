"""Routing between a merchant's processors: the pay page shows the primary's card form, the
secondary's while the primary's breaker is open or staff marked it down; payments made through
either go back to the processor that charged for captures and refunds; the API takes
`processor` and every payment answer names it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from compliance.actors import Actor
from compliance.models import AuditEntry
from payments import routing, services
from payments.gateways.braintree import resilience as bt_resilience
from payments.gateways.stripe import resilience as stripe_resilience
from payments.models import Payment, PaymentLink, ProcessorAccount, RoutingRank
from payments.routing import processor_outage_set, processor_routing_set
from payments.state import PaymentStatus
from tests.cache_support import clear_own_cache
from tests.payments.braintree.conftest import sandbox_transaction, settle
from tests.payments.conftest import api_client_for
from tests.payments.factories import PaymentLinkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_own_cache()
    routing.processor_outage_marks_forget()
    yield
    routing.processor_outage_marks_forget()


@pytest.fixture
def both(bt_merchant: Any, sandbox_control: Any, bt_account: ProcessorAccount) -> Any:
    """A merchant on Stripe (primary) with Braintree connected as its secondary."""
    services.merchant_connect_account_ensure(merchant=bt_merchant)
    processor_routing_set(
        merchant=bt_merchant, primary="stripe", secondary="braintree", actor=Actor.system("t")
    )
    return bt_merchant


@pytest.fixture
def link(both: Any) -> PaymentLink:
    return PaymentLinkFactory(merchant=both, amount=2500, currency="usd", reusable=True)


def _page(link: PaymentLink) -> tuple[Any, str]:
    response = Client().get(reverse("pay", kwargs={"token": link.token}))
    return response, response.content.decode()


def _shown(link: PaymentLink) -> str:
    response, html = _page(link)
    assert response.status_code == 200
    found = re.search(r'data-processor="([a-z]+)"', html)
    assert found
    return found.group(1)


def _open_stripe_breaker() -> None:
    stripe_resilience.breaker().open()


def test_the_pay_page_shows_the_primary_processor_form(link, sandbox):
    """Given Stripe primary and both up, the page loads Stripe's form from the sandbox."""
    _, html = _page(link)
    assert _shown(link) == "stripe"
    assert f'src="{sandbox.url}/v3/"' in html
    assert "/static/payments/card-forms/stripe.js" in html


def test_an_open_primary_breaker_shows_the_secondary_form(link, sandbox):
    """Given Stripe's breaker open, the page renders Braintree's Drop-in with a client token,
    posts the processor's name, and its CSP admits Braintree's origin."""
    _open_stripe_breaker()
    response, html = _page(link)
    assert _shown(link) == "braintree"
    assert f'src="{sandbox.url}/braintree/web/braintree.js"' in html
    assert "/static/payments/card-forms/braintree.js" in html
    assert 'name="processor" value="braintree"' in html
    assert 'data-amount="25.00"' in html
    assert sandbox.url in response["Content-Security-Policy"]


def test_staff_marking_the_primary_down_fails_over_until_marked_up(link, django_user_model):
    """An operator's mark sends pay pages to the secondary at once; it is audited both ways."""
    staff = django_user_model.objects.create_user(email="ops@example.test", password="x" * 20)
    processor_outage_set(processor="stripe", marked_down=True, actor=Actor.for_user(staff))
    assert _shown(link) == "braintree"
    processor_outage_set(processor="stripe", marked_down=False, actor=Actor.for_user(staff))
    assert _shown(link) == "stripe"
    actions = list(
        AuditEntry.objects.filter(target_type="processor", target_id="stripe").values_list(
            "action", flat=True
        )
    )
    assert actions == ["processor.marked_down", "processor.marked_up"]


def test_outage_marks_are_read_once_per_interval(link, django_assert_num_queries):
    """The decision reads the marks from the database at most once per interval."""
    routing.processors_marked_down()
    with django_assert_num_queries(0):
        for _ in range(50):
            routing.processors_marked_down()


def test_with_both_processors_down_the_primary_form_stays(link):
    """Nothing to fail over to: the primary's form is shown (paying then says try again)."""
    _open_stripe_breaker()
    bt_resilience.breaker().open()
    assert _shown(link) == "stripe"


def test_without_a_secondary_an_open_primary_breaker_keeps_the_primary(link, both):
    processor_routing_set(merchant=both, primary="stripe", secondary=None, actor=Actor.system("t"))
    _open_stripe_breaker()
    assert _shown(link) == "stripe"


def test_braintree_primary_shows_braintree(link, both):
    processor_routing_set(
        merchant=both, primary="braintree", secondary="stripe", actor=Actor.system("t")
    )
    assert _shown(link) == "braintree"


def _pay_with(link: PaymentLink, processor: str, token: str) -> Any:
    client = Client(enforce_csrf_checks=True)
    html = client.get(reverse("pay", kwargs={"token": link.token})).content.decode()
    attempt = re.search(r'name="attempt" value="([^"]+)"', html)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert attempt
    assert csrf
    return client.post(
        reverse("pay", kwargs={"token": link.token}),
        {
            "attempt": attempt.group(1),
            "csrfmiddlewaretoken": csrf.group(1),
            "processor": processor,
            "payment_method": token,
        },
    )


def test_paying_through_the_secondary_charges_braintree(link, bt_control):
    """With Stripe's breaker open, a nonce from Braintree's form becomes a Braintree payment."""
    _open_stripe_breaker()
    response = _pay_with(link, "braintree", "fake-valid-nonce")
    assert response.status_code == 303
    payment = Payment.objects.get(payment_link=link)
    assert payment.processor == "braintree"
    assert payment.status == PaymentStatus.SUCCEEDED
    transaction = sandbox_transaction(bt_control, payment.processor_payment_id)
    assert transaction["status"] == "submitted_for_settlement"
    assert transaction["amount_cents"] == 2500
    assert transaction["order_id"] == payment.public_id


def test_a_stripe_token_posted_as_braintree_never_reaches_stripe(link):
    """The token is checked against the processor it claims; an unknown processor is a page."""
    response = _pay_with(link, "paypal", "fake-valid-nonce")
    assert response.status_code == 400
    assert not Payment.objects.filter(payment_link=link).exists()
    response = _pay_with(link, "stripe", "fake-valid-nonce")
    assert response.status_code == 400
    assert not Payment.objects.filter(payment_link=link).exists()


def test_refunds_and_captures_go_to_the_processor_that_charged(both, bt_control):
    """A Braintree payment is captured and refunded at Braintree though Stripe is primary."""
    api = api_client_for(both)
    answer = api.post(
        "/api/v1/payments",
        {
            "amount": 4000,
            "currency": "usd",
            "payment_method": "fake-valid-nonce",
            "processor": "braintree",
            "capture_method": "manual",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["processor"] == "braintree"
    assert answer.json()["status"] == "requires_capture"
    payment_id = answer.json()["id"]
    captured = api.post(f"/api/v1/payments/{payment_id}/capture", {}, format="json")
    assert captured.status_code == 200, captured.json()
    assert captured.json()["processor"] == "braintree"
    payment = Payment.objects.get(public_id=payment_id)
    transaction = sandbox_transaction(bt_control, payment.processor_payment_id)
    assert transaction["status"] == "submitted_for_settlement"
    settle(bt_control, payment.processor_payment_id)
    refund = api.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1500}, format="json")
    assert refund.status_code in (200, 201), refund.json()
    made = payment.refunds.get()
    assert made.processor_refund_id
    # The refund is Braintree's credit of this sale, not anything at Stripe (the primary).
    sale = sandbox_transaction(bt_control, payment.processor_payment_id)
    assert sale["refund_ids"] == [made.processor_refund_id]
    assert sandbox_transaction(bt_control, made.processor_refund_id)["amount_cents"] == 1500


def test_api_defaults_to_the_primary_and_names_the_processor(both, sandbox_control):
    api = api_client_for(both)
    answer = api.post(
        "/api/v1/payments",
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["processor"] == "stripe"
    listed = api.get("/api/v1/payments").json()["data"]
    assert [p["processor"] for p in listed] == ["stripe"]
    detail = api.get(f"/api/v1/payments/{answer.json()['id']}").json()
    assert detail["processor"] == "stripe"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"processor": "paypal"}, "processor", None),
        ({"processor": ""}, "processor", None),
        ({"processor": ["stripe"]}, "processor", None),
        ({"processor": "stripe", "payment_method": "fake-valid-nonce"}, "payment_method", None),
    ],
)
def test_api_refuses_unknown_processors_and_foreign_tokens(both, body, param, code):
    api = api_client_for(both)
    answer = api.post(
        "/api/v1/payments",
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", **body},
        format="json",
    )
    assert answer.status_code == 400, answer.json()
    error = answer.json()["error"]
    assert error["param"] == param
    assert set(error) >= {"type", "code", "message", "param"}
    assert not Payment.objects.exists()


def test_api_refuses_a_processor_the_merchant_has_not_connected(merchant, sandbox_control):
    services.merchant_connect_account_ensure(merchant=merchant)
    answer = api_client_for(merchant).post(
        "/api/v1/payments",
        {
            "amount": 1000,
            "currency": "gbp",
            "payment_method": "fake-valid-nonce",
            "processor": "braintree",
        },
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "processor_not_connected"
    assert answer.json()["error"]["param"] == "processor"


def test_routing_choice_is_audited_and_ranks_are_exclusive(both):
    processor_routing_set(
        merchant=both, primary="braintree", secondary="stripe", actor=Actor.system("t")
    )
    ranks = dict(
        ProcessorAccount.objects.filter(merchant=both).values_list("processor", "routing_rank")
    )
    assert ranks == {"braintree": RoutingRank.PRIMARY, "stripe": RoutingRank.SECONDARY}
    entry = AuditEntry.objects.filter(action="merchant.processor_routing_update").last()
    assert entry is not None
    assert entry.payload["primary"] == "braintree"
    assert entry.payload["primary_before"] == "stripe"
    with pytest.raises(routing.RoutingChoiceError):
        processor_routing_set(
            merchant=both, primary="stripe", secondary="stripe", actor=Actor.system("t")
        )


def test_when_braintree_cannot_make_its_form_the_page_fails_over_to_stripe(link, both, bt_control):
    """Braintree primary but its client token call fails (5xx every retry): the page shows
    Stripe's form instead of closing."""
    processor_routing_set(
        merchant=both, primary="braintree", secondary="stripe", actor=Actor.system("t")
    )
    bt_control.add_fault("error_500", count=10, path="/merchants/")
    assert _shown(link) == "stripe"


def test_when_no_processor_can_make_its_form_the_page_says_try_later(link, both, bt_control):
    processor_routing_set(
        merchant=both, primary="braintree", secondary=None, actor=Actor.system("t")
    )
    bt_control.add_fault("error_500", count=10, path="/merchants/")
    response, html = _page(link)
    assert response.status_code == 409
    assert "cannot accept card payments right now" in html


def test_a_double_submit_through_braintree_makes_one_payment(link, bt_control):
    """The same page load posted twice (a double click): one payment, one sale."""
    _open_stripe_breaker()
    client = Client(enforce_csrf_checks=True)
    html = client.get(reverse("pay", kwargs={"token": link.token})).content.decode()
    attempt = re.search(r'name="attempt" value="([^"]+)"', html)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert attempt
    assert csrf
    fields = {
        "attempt": attempt.group(1),
        "csrfmiddlewaretoken": csrf.group(1),
        "processor": "braintree",
        "payment_method": "fake-valid-nonce",
    }
    before = bt_control.braintree("GET", "state")["objects"]["transactions"]
    first = client.post(reverse("pay", kwargs={"token": link.token}), fields)
    second = client.post(reverse("pay", kwargs={"token": link.token}), fields)
    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    payment = Payment.objects.get(payment_link=link)
    assert payment.processor == "braintree"
    after = bt_control.braintree("GET", "state")["objects"]["transactions"]
    assert after - before == 1, "exactly one sale at Braintree"


@pytest.mark.parametrize(
    "processor",
    ["<script>", "STRIPE", "braintree\x00", "x" * 5000, "stripe braintree", "4242424242424242"],
)
def test_hostile_processor_fields_are_a_page_never_a_500(link, processor):
    response = _pay_with(link, processor, "fake-valid-nonce")
    assert response.status_code == 400
    assert not Payment.objects.filter(payment_link=link).exists()
