"""The merchant's compliance page and CSV export: own entries only, filters, no 500s."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from accounts.roles import Role
from compliance.actors import Actor
from compliance.services import audit_record, audit_seal
from compliance.verifier import verify_log
from tests.factories import member, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst():
    return member(Role.ANALYST)


@pytest.fixture
def log(analyst):
    mine = analyst.merchant.public_id
    audit_record(
        action="auth.login.succeeded", actor=Actor(kind="user", id="usr_a"), merchant_id=mine
    )
    audit_record(
        action="payment.refund.created",
        actor=Actor.for_api_key("key_x"),
        merchant_id=mine,
        target_type="payment",
        target_id="pay_1",
        payload={"amount": 100},
    )
    audit_record(action="payment.created", actor=Actor.system("=cmd()"), merchant_id=mine)
    audit_record(
        action="payment.created",
        actor=Actor.system("t"),
        merchant_id="mer_someoneelse",
        target_id="pay_other",
    )


def test_page_lists_only_the_merchants_own_entries_with_chain_status(analyst, log):
    audit_seal()
    response = verified_client(analyst.user).get(reverse("compliance:home"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "pay_1" in body
    assert "pay_other" not in body
    assert "Last signed checkpoint" in body
    assert "#1, 4 entries" in body


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ({"actor": "key_x"}, "pay_1", "usr_a"),
        ({"action": "auth."}, "usr_a", "pay_1"),
        ({"target": "pay_1"}, "pay_1", "usr_a"),
        ({"since": "2000-01-01", "until": "2000-01-02"}, "No audit entries match", "pay_1"),
    ],
)
def test_filters(analyst, log, query, present, absent):
    body = verified_client(analyst.user).get(reverse("compliance:home"), query).content.decode()
    assert present in body
    assert absent not in body


@pytest.mark.parametrize(
    "query",
    [
        {"since": "not-a-date"},
        {"since": "2024-02-30"},
        {"since": "2024-03-02", "until": "2024-03-01"},
        {"actor": "x" * 500},
        {"action": "DROP TABLE"},
        {"page": "99999"},
        {"page": "-1"},
        {"target": "<script>"},
    ],
)
def test_bad_filter_values_give_a_message_not_an_error(analyst, log, query):
    client = verified_client(analyst.user)
    page = client.get(reverse("compliance:home"), query)
    export = client.get(reverse("compliance:audit_csv"), query)
    assert page.status_code == 200
    assert export.status_code in (200, 400)
    if "page" not in query:
        assert "not valid" in page.content.decode()
        assert export.status_code == 400


def test_csv_export_streams_own_entries_and_defuses_formulas(analyst, log):
    audit_seal()
    response = verified_client(analyst.user).get(reverse("compliance:audit_csv"))
    assert response.status_code == 200
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["target_id"] for row in rows} == {"", "pay_1"}
    assert {row["actor_id"] for row in rows} == {"usr_a", "key_x", "'=cmd()"}
    assert all(row["position"] for row in rows)
    assert verify_log().ok


def test_roles_without_the_permission_are_refused(log):
    viewer = member(Role.VIEWER)
    assert verified_client(viewer.user).get(reverse("compliance:home")).status_code == 403
    assert verified_client(viewer.user).get(reverse("compliance:audit_csv")).status_code == 403


@pytest.mark.parametrize("name", ["compliance:home", "compliance:audit_csv"])
def test_the_last_representable_day_as_end_date_lists_everything_up_to_it(analyst, log, name):
    """until=9999-12-31 has no next midnight: it means "no upper bound", not a 500."""
    response = verified_client(analyst.user).get(
        reverse(name), {"since": "0001-01-01", "until": "9999-12-31"}
    )
    assert response.status_code == 200
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    assert "pay_1" in body
