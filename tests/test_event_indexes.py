"""The events table's indexes (migration 0012): the readers that must stay fast at millions
of events find their rows through an index, although the indexes that cost every insert
are partial (``bench/README.md``, "What each index of the events table buys").

On PostgreSQL the plans are read with sequential scans priced out (``enable_seqscan =
off``), so a query that no index can serve any more still shows ``Seq Scan``: the test
fails when a change of index or of query loses it, whatever the table's size. SQLite
(``EXPLAIN QUERY PLAN``) chooses without statistics, and must name the index too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.webhooks.health import webhook_health
from django_stripe_portal.webhooks.recovery import due_events, stuck_events
from tests.factories import PortalSessionFactory, WebhookEventFactory
from tests.migration_states import APP, migrate, migrate_to_newest

pytestmark = pytest.mark.django_db

TABLE = WebhookEvent._meta.db_table
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _statements(reader: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        reader()
    return [q["sql"] for q in queries.captured_queries if TABLE in q["sql"]]


def _plan(sql: str) -> list[str]:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [row[-1] for row in cursor.fetchall()]


def _uses(sql: str, *indexes: str) -> None:
    """The plan reads the events table through one of ``indexes``, never whole."""
    plan = _plan(sql)
    text = "\n".join(plan)
    assert not any(
        f"Seq Scan on {TABLE}" in line or line.strip() == f"SCAN {TABLE}" for line in plan
    ), text
    assert any(index in text for index in indexes), text


def test_the_recovery_sweep_reads_the_unprocessed_and_due_indexes() -> None:
    (stuck,) = _statements(lambda: stuck_events(NOW, 100))
    (due,) = _statements(lambda: due_events(NOW, 100))
    _uses(stuck, "stripe_portal_evt_unprocessed")
    # Failed rows whose attempt is due: either partial index holds them (and only few rows).
    _uses(due, "stripe_portal_evt_due", "stripe_portal_evt_unprocessed")


def test_health_counts_through_the_unprocessed_index() -> None:
    counts, newest = _statements(lambda: webhook_health(NOW))
    _uses(counts, "stripe_portal_evt_unprocessed")
    _uses(newest, "stripe_portal_evt_created")


@pytest.mark.parametrize("status", ["pending", "failed", "ignored"])
def test_the_admin_filters_of_events_not_processed_are_indexed(status: str) -> None:
    events = WebhookEvent.objects.filter(status=status).order_by("-created_at", "-pk")
    (listing,) = _statements(lambda: list(events[:100]))
    _uses(listing, "stripe_portal_evt_unprocessed")


def test_a_visits_events_and_its_deletion_read_the_visit_index() -> None:
    visit = PortalSessionFactory()
    WebhookEventFactory(portal_session=visit)
    (inline,) = _statements(lambda: list(visit.events.all()))
    _uses(inline, "stripe_portal_evt_visit")
    with transaction.atomic():
        statements = _statements(lambda: PortalSession.objects.filter(pk=visit.pk).delete())
        transaction.set_rollback(True)
    (set_null,) = [s for s in statements if s.startswith("UPDATE")]
    _uses(set_null, "stripe_portal_evt_visit")


def _entries() -> dict[str, int]:
    """The rows each index of the events table holds (its predicate's, when partial)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
            [TABLE],
        )
        entries = {}
        for name, predicate in cursor.fetchall():
            where = f" WHERE {predicate}" if predicate else ""
            cursor.execute(f"SELECT count(*) FROM {TABLE}{where}")  # noqa: S608
            entries[name] = cursor.fetchone()[0]
    return entries


def test_a_processed_event_that_links_no_visit_enters_no_partial_index() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    WebhookEventFactory(status=WebhookEvent.Status.PROCESSED)
    entries = _entries()
    assert entries["stripe_portal_evt_unprocessed"] == 0
    assert entries["stripe_portal_evt_visit"] == 0
    # Gone: Django's own index of the foreign key (every row, NULL included), the status
    # index of every row, and the ``LIKE`` copy of the unique key.
    gone = [name for name in entries if "_portal_session_id_" in name or name.endswith("_like")]
    assert gone == [] and "stripe_portal_evt_status" not in entries
    WebhookEventFactory(status=WebhookEvent.Status.FAILED, portal_session=PortalSessionFactory())
    entries = _entries()
    assert entries["stripe_portal_evt_unprocessed"] == 1
    assert entries["stripe_portal_evt_visit"] == 1


def _indexes_of(column: str) -> dict[str, bool]:
    """Indexes of ``column`` alone that back no constraint: name -> partial."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return {
        name: name.startswith("stripe_portal_evt_")
        for name, details in constraints.items()
        if details["columns"] == [column] and details["index"] and not details["unique"]
    }


@pytest.mark.django_db(transaction=True)
def test_0012_goes_back_and_forth() -> None:
    """Back at 0011 the table has its old indexes again (all rows), and 0012 replaces them
    once more: both directions run on the suite's database (SQLite or PostgreSQL)."""
    try:
        migrate([(APP, "0011_activity_year")])
        names = set(_names())
        assert "stripe_portal_evt_status" in names and "stripe_portal_evt_unprocessed" not in names
        assert list(_indexes_of("portal_session_id").values()) == [False]
        if connection.vendor == "postgresql":
            assert [n for n in _indexes_of("stripe_id") if n.endswith("_like")] != []
    finally:
        migrate_to_newest()
    names = set(_names())
    assert {"stripe_portal_evt_unprocessed", "stripe_portal_evt_visit"} <= names
    assert "stripe_portal_evt_status" not in names
    assert _indexes_of("portal_session_id") == {"stripe_portal_evt_visit": True}
    assert _indexes_of("stripe_id") == {}


def _names() -> list[str]:
    with connection.cursor() as cursor:
        return list(connection.introspection.get_constraints(cursor, TABLE))
