"""Database routing (config.db_routers): writes and migrations stay on default, whatever alias
an object was read from; the reports alias only ever reads."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.test.utils import CaptureQueriesContext

from accounts.models import Merchant
from config.db_routers import REPORTS_ALIAS, PrimaryReplicaRouter
from payments.models import Customer, Payment
from tests.factories import MerchantFactory


def test_reads_go_where_the_query_says_and_everything_else_to_default():
    routing = PrimaryReplicaRouter()
    assert routing.db_for_read(Payment) is None  # default, or the alias `.using()` names
    assert routing.db_for_write(Payment) == DEFAULT_DB_ALIAS
    assert routing.allow_migrate(DEFAULT_DB_ALIAS, "payments") is True
    assert routing.allow_migrate(REPORTS_ALIAS, "payments") is False


def test_an_object_read_on_the_replica_is_written_to_default():
    merchant = Merchant(slug="m")
    merchant._state.db = REPORTS_ALIAS
    assert router.db_for_write(Merchant, instance=merchant) == DEFAULT_DB_ALIAS


def test_objects_read_on_the_replica_may_be_related_to_objects_on_default():
    on_replica, on_default = Merchant(slug="r"), Customer()
    on_replica._state.db, on_default._state.db = REPORTS_ALIAS, DEFAULT_DB_ALIAS
    assert router.allow_relation(on_replica, on_default) is True
    elsewhere = Customer()
    elsewhere._state.db = "other"
    assert router.allow_relation(on_replica, elsewhere) is False


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS_ALIAS])
def test_a_row_read_on_the_replica_and_saved_again_is_written_on_default():
    """The replica alias is a mirror of the test database here: a write through it would still
    land in the same rows, so the proof is which connection ran the UPDATE."""
    MerchantFactory(slug="routed")
    merchant = Merchant.objects.using(REPORTS_ALIAS).get(slug="routed")
    merchant.legal_name = "Renamed Ltd"
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_default,
        CaptureQueriesContext(connections[REPORTS_ALIAS]) as on_replica,
    ):
        merchant.save(update_fields=["legal_name"])
    assert any(q["sql"].startswith("UPDATE") for q in on_default.captured_queries)
    assert on_replica.captured_queries == []
