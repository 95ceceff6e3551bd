"""Catch-up inserts a page's portal sessions (``billing_portal.session.created``) before its
first event is processed (``receive_batch._write_sessions``): each event still announces
its own session, a session stored already is read as it is, a session named twice goes
in its events' turns, and an event that fails takes its session with it."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.models import PortalConfiguration, PortalSession, WebhookEvent
from tests import stripe_objects as so
from tests.catch_up_events import undelivered_sessions
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import connected, fail_after_dispatching

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status


def fetch() -> None:
    call_command("fetch_stripe_events", "--hours", "2", stdout=StringIO(), stderr=StringIO())


def _announced() -> tuple[list[tuple[str, int | None, int | None]], Any]:
    seen: list[tuple[str, int | None, int | None]] = []

    def receiver(sender: Any, portal_session: PortalSession, **kwargs: Any) -> None:
        # The row as the receiver gets it, and as the database holds it right then.
        stored = PortalSession.objects.filter(stripe_id=portal_session.stripe_id).first()
        seen.append((portal_session.stripe_id, portal_session.pk, stored and stored.pk))

    return seen, receiver


def _savepoints(queries: CaptureQueriesContext) -> int:
    return sum(1 for query in queries.captured_queries if query["sql"].startswith("SAVEPOINT"))


def test_a_pages_sessions_are_stored_and_each_announced_with_its_row(
    stripe_events: FakeStripeEvents,
) -> None:
    config = PortalConfiguration.objects.create(stripe_id="bpc_batch", key="default")
    ids = [so.unique_id("bps") for _ in range(4)]
    undelivered_sessions(stripe_events, ids, configuration="bpc_batch")
    seen, receiver = _announced()

    with connected(signals.portal_session_created, receiver):
        fetch()

    stored = {row.stripe_id: row for row in PortalSession.objects.filter(stripe_id__in=ids)}
    assert sorted(stored) == sorted(ids)
    assert [stripe_id for stripe_id, _, _ in seen] == ids
    assert all(pk == stored[stripe_id].pk == in_db for stripe_id, pk, in_db in seen)
    assert {row.configuration_id for row in stored.values()} == {config.pk}
    assert {row.source for row in stored.values()} == {PortalSession.Source.WEBHOOK}
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_no_session_event_opens_a_savepoint_of_its_own(stripe_events: FakeStripeEvents) -> None:
    ids = [so.unique_id("bps") for _ in range(4)]
    undelivered_sessions(stripe_events, ids)

    with CaptureQueriesContext(connection) as queries:
        fetch()

    # The page's transaction (a savepoint in the test's) and the sessions' statement's own,
    # before the first event is processed; one per event without the batch.
    assert _savepoints(queries) == 2
    assert PortalSession.objects.filter(stripe_id__in=ids).count() == 4


def test_a_session_stored_already_is_read_and_kept_as_it_was(
    stripe_events: FakeStripeEvents,
) -> None:
    ids = [so.unique_id("bps") for _ in range(3)]
    app_row = PortalSession.objects.create(
        stripe_id=ids[1],
        customer_id=f"cus_{ids[1]}",
        source=PortalSession.Source.APP,
        return_to="/settings/",
        created_at=timezone.now(),
    )
    undelivered_sessions(stripe_events, ids)
    seen, receiver = _announced()

    with connected(signals.portal_session_created, receiver):
        fetch()

    kept = PortalSession.objects.get(stripe_id=ids[1])
    assert (kept.pk, kept.source, kept.return_to) == (app_row.pk, "app", "/settings/")
    # The app's own session was announced by its redirect view, not again here.
    assert [stripe_id for stripe_id, _, _ in seen] == [ids[0], ids[2]]
    assert PortalSession.objects.filter(stripe_id__in=ids).count() == 3
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_a_session_named_twice_in_a_page_is_stored_once_and_goes_in_its_events_turns(
    stripe_events: FakeStripeEvents,
) -> None:
    twice, other = so.unique_id("bps"), so.unique_id("bps")
    first = undelivered_sessions(stripe_events, [twice, other])
    again = dict(first[0]["data"]["object"])
    stripe_events.create(
        "billing_portal.session.created", again, created=first[1]["created"] + 1, delivered=False
    )
    seen, receiver = _announced()

    with connected(signals.portal_session_created, receiver):
        fetch()

    assert PortalSession.objects.filter(stripe_id=twice).count() == 1
    # The second event finds the row a webhook stored and announces it, as a retry does.
    assert [stripe_id for stripe_id, _, _ in seen] == [twice, other, twice]
    assert all(pk == in_db for _, pk, in_db in seen)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_an_event_that_fails_takes_its_session_with_it(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [so.unique_id("bps") for _ in range(3)]
    listed = undelivered_sessions(stripe_events, ids)
    fail_after_dispatching(monkeypatch, listed[1]["id"])

    with pytest.raises(CommandError):
        fetch()

    assert set(PortalSession.objects.values_list("stripe_id", flat=True)) == {ids[0], ids[2]}
    statuses = [WebhookEvent.objects.get(stripe_id=event["id"]).status for event in listed]
    assert statuses == [Status.PROCESSED, Status.FAILED, Status.PROCESSED]


def test_if_the_sessions_statement_fails_each_is_stored_in_its_turn(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_stripe_portal.webhooks import receive_batch

    class Refused(RuntimeError):
        pass

    def refuses(*args: Any, **kwargs: Any) -> Any:
        raise Refused("the database refused the batch")

    real = receive_batch.PreparedNewRows

    def page_rows(rows: Any, **kwargs: Any) -> Any:
        if rows and isinstance(rows[0], PortalSession):
            refuses()
        return real(rows, **kwargs)

    monkeypatch.setattr(receive_batch, "PreparedNewRows", page_rows)
    ids = [so.unique_id("bps") for _ in range(3)]
    undelivered_sessions(stripe_events, ids)
    seen, receiver = _announced()

    with connected(signals.portal_session_created, receiver):
        fetch()

    assert sorted(PortalSession.objects.values_list("stripe_id", flat=True)) == sorted(ids)
    assert [stripe_id for stripe_id, _, _ in seen] == ids
    assert all(pk == in_db for _, pk, in_db in seen)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
