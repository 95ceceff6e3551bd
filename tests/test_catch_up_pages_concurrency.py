"""A catch-up page and a live delivery of one of its events at the same moment, on
PostgreSQL, in both orders: whichever inserts the row first dispatches the event, once;
the other waits for its transaction and then finds the row stored. And a live delivery
that inserts a subscription while a page writes its subscriptions: the page never
deletes or overwrites that row when its own event of it fails.

The moments are not left to chance: each test waits until the second party is seen
blocked on the first one's row lock (``pg_locks``), then lets the first one go on, or
runs the delivery to its end at a chosen statement of the page."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import connected, fail_after_dispatching, post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]

WAIT = 60.0


def _own_backend_pid() -> int:
    """This thread's database session (opened now if need be)."""
    connection.ensure_connection()
    return int(connection.connection.info.backend_pid)


def _wait_until_blocked(pid: int) -> None:
    """Return once the session ``pid`` waits for a lock another transaction holds."""
    deadline = time.monotonic() + WAIT
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid]
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"session {pid} never waited for the other's lock")


class _Thread(threading.Thread):
    """Runs ``work`` with its own database session; keeps what it raised for the test."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.pid: int | None = None
        self.started_session = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.pid = _own_backend_pid()
            self.started_session.set()
            self.result = self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.started_session.set()
            connections.close_all()

    def outcome(self) -> Any:
        self.join(timeout=WAIT)
        assert not self.is_alive(), "the thread is stuck"
        if self.error is not None:
            raise self.error
        return self.result


def _started_and_blocked(work: Callable[[], Any]) -> _Thread:
    """``work`` in a thread of its own, once its database session waits on a lock."""
    thread = _Thread(work)
    thread.start()
    thread.started_session.wait(WAIT)
    assert thread.pid is not None
    _wait_until_blocked(thread.pid)
    return thread


def _page(stripe_mock: responses.RequestsMock, count: int) -> list[dict[str, Any]]:
    """``count`` undelivered subscription updates at Stripe, a second apart."""
    fake = FakeStripeEvents(stripe_mock).install()
    start = int(time.time()) - 600
    return [
        fake.create(
            "customer.subscription.updated",
            so.subscription(items=[("price_basic", step + 1)]),
            previous_attributes={"items": {"data": []}},
            created=start + step,
            delivered=False,
        )
        for step in range(count)
    ]


def _fetch() -> str:
    out = StringIO()
    call_command("fetch_stripe_events", "--hours", "1", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_delivery_during_the_page_waits_and_finds_the_event_stored(
    stripe_mock: responses.RequestsMock,
) -> None:
    listed = _page(stripe_mock, 6)
    live = listed[4]
    dispatched: Counter[tuple[str, str]] = Counter()
    delivery: list[_Thread] = []

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        dispatched[event.stripe_id, event.received_via] += 1
        if event.stripe_id == listed[0]["id"] and not delivery:
            # The page's rows are inserted, not committed: Stripe's retry of one arrives.
            delivery.append(_started_and_blocked(lambda: post_signed(Client(), live).status_code))

    with connected(signals.webhook_received, receiver):
        output = _fetch()
        code = delivery[0].outcome()

    assert code == 200  # a duplicate, once the page committed
    assert "Listed 6 event(s): 6 new, 0 already stored, 0 failed." in output
    assert dispatched == Counter({(event["id"], "events_api"): 1 for event in listed})


def test_a_page_waits_for_a_delivery_holding_one_of_its_events(
    stripe_mock: responses.RequestsMock,
) -> None:
    listed = _page(stripe_mock, 6)
    live = listed[2]
    dispatched: Counter[tuple[str, str]] = Counter()
    holding, release = threading.Event(), threading.Event()

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        dispatched[event.stripe_id, event.received_via] += 1
        if event.received_via == "webhook":
            holding.set()  # the delivery's row is inserted, not committed
            assert release.wait(WAIT)

    with connected(signals.webhook_received, receiver):
        delivery = _Thread(lambda: post_signed(Client(), live).status_code)
        delivery.start()
        assert holding.wait(WAIT)
        catch_up = _started_and_blocked(_fetch)  # the page's insert waits for the delivery's row
        release.set()
        assert delivery.outcome() == 200
        output = catch_up.outcome()

    assert "Listed 6 event(s): 5 new, 1 already stored, 0 failed." in output
    expected = {(event["id"], "events_api"): 1 for event in listed if event is not live}
    assert dispatched == Counter({**expected, (live["id"], "webhook"): 1})
    assert WebhookEvent.objects.get(stripe_id=live["id"]).received_via == "webhook"


def _delivery_between_read_and_write(live: dict[str, Any]) -> Callable[..., Any]:
    """An ``execute_wrapper`` that, right after the page's batch has read its subscription
    rows (``SELECT … FOR UPDATE``), delivers ``live`` in another session, to its commit."""
    table = StripeSubscription._meta.db_table
    delivered: list[int] = []

    def wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        result = execute(sql, *args)
        if not delivered and f'FROM "{table}"' in sql and sql.endswith("FOR UPDATE"):
            thread = _Thread(lambda: post_signed(Client(), live).status_code)
            thread.start()
            delivered.append(thread.outcome())
        return result

    return wrapper


def _new_subscriptions_with_a_live_delivery(
    stripe_mock: responses.RequestsMock,
) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    """Three new subscriptions' updates at Stripe, undelivered; and a delivery of the
    second one's (earlier) creation, which the page does not list."""
    fake = FakeStripeEvents(stripe_mock).install()
    start = int(time.time()) - 600
    subs = [so.unique_id("sub") for _ in range(3)]
    listed = [
        fake.create(
            "customer.subscription.updated",
            so.subscription(id=sub_id, items=[("price_basic", step + 1)]),
            previous_attributes={"items": {"data": []}},
            created=start + step,
            delivered=False,
        )
        for step, sub_id in enumerate(subs)
    ]
    live = so.event(
        "customer.subscription.created",
        so.subscription(id=subs[1], items=[("price_basic", 7)]),
        created=start - 60,
    )
    return subs, listed, live


def _quantity(sub_id: str) -> int:
    return int(StripeSubscription.objects.get(stripe_id=sub_id).items[0]["quantity"])


def test_a_failing_event_never_deletes_a_subscription_a_delivery_inserted_meanwhile(
    stripe_mock: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs, listed, live = _new_subscriptions_with_a_live_delivery(stripe_mock)
    fail_after_dispatching(monkeypatch, listed[1]["id"])
    with (
        connection.execute_wrapper(_delivery_between_read_and_write(live)),
        pytest.raises(CommandError, match=r"1 event\(s\) failed"),
    ):
        _fetch()

    # The delivery's row, as the delivery left it: the failing event's write was its own.
    row = StripeSubscription.objects.get(stripe_id=subs[1])
    assert (row.items[0]["quantity"], int(row.event_created_at.timestamp())) == (
        7,
        live["created"],
    )
    assert WebhookEvent.objects.get(stripe_id=listed[1]["id"]).status == WebhookEvent.Status.FAILED
    assert WebhookEvent.objects.get(stripe_id=live["id"]).status == WebhookEvent.Status.PROCESSED
    assert [_quantity(subs[0]), _quantity(subs[2])] == [1, 3]


def test_a_subscription_a_delivery_inserted_meanwhile_takes_the_pages_newer_event(
    stripe_mock: responses.RequestsMock,
) -> None:
    subs, listed, live = _new_subscriptions_with_a_live_delivery(stripe_mock)
    with connection.execute_wrapper(_delivery_between_read_and_write(live)):
        output = _fetch()

    assert "Listed 3 event(s): 3 new, 0 already stored, 0 failed." in output
    assert [_quantity(sub_id) for sub_id in subs] == [1, 2, 3]
    row = StripeSubscription.objects.get(stripe_id=subs[1])
    assert int(row.event_created_at.timestamp()) == listed[1]["created"]
