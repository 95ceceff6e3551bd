"""Settled weeks (``activity.settled``): summed once into ``ActivityDay`` rows, read
instead of their visits, summed again when forgotten, and forgotten when an old visit
returns. That the figures equal a live count on every split: test_activity_random.py."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import django
import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_stripe_portal import activity
from django_stripe_portal.activity import ActivityRange
from django_stripe_portal.activity.settled import SETTLED_VERSION
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import ActivityDay, PortalSession, WebhookEvent
from django_stripe_portal.portal.return_links import new_return_key, sign_return_key
from django_stripe_portal.settled_weeks import forget_settled_days, settled_through
from django_stripe_portal.webhooks.accept import accept_event
from django_stripe_portal.webhooks.receive import receive_event
from django_stripe_portal.webhooks.receive_batch import receive_batch
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory, WebhookEventFactory
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import SECRET, post_signed

pytestmark = pytest.mark.django_db

#: Ten weeks back, so that its week is settled whatever today is.
OLD = timezone.now() - dt.timedelta(days=70)


def _year() -> ActivityRange:
    return ActivityRange.last_days(365)


def _visit(customer: str, at: dt.datetime, **fields: object) -> PortalSession:
    visit: PortalSession = PortalSessionFactory(customer_id=customer, created_at=at, **fields)
    return visit


@pytest.mark.parametrize(
    ("today", "through"),
    [
        (dt.date(2026, 12, 6), dt.date(2026, 11, 29)),  # today - 4 = Wed 2 Dec
        (dt.date(2026, 12, 3), dt.date(2026, 11, 29)),  # today - 4 = Sun 29 Nov
        (dt.date(2026, 12, 2), dt.date(2026, 11, 22)),  # today - 4 = Sat 28 Nov
    ],
)
def test_a_week_settles_once_nearly_every_event_has_arrived(
    today: dt.date, through: dt.date
) -> None:
    # The day itself, two days for late deliveries, and a VISIT_WINDOW of an hour.
    assert settled_through(today) == through
    assert through.weekday() == 6


@override_settings(STRIPE_PORTAL={"VISIT_WINDOW": 3 * 86400})
def test_a_longer_visit_window_settles_later() -> None:
    assert settled_through(dt.date(2026, 12, 5)) == dt.date(2026, 11, 29)  # Sun 29 Nov
    assert settled_through(dt.date(2026, 12, 4)) == dt.date(2026, 11, 22)  # Sat 28 Nov


def test_the_years_settled_weeks_are_summed_once() -> None:
    _visit("cus_a", OLD)
    _visit("cus_a", OLD + dt.timedelta(days=1))
    _visit("cus_b", timezone.now() - dt.timedelta(days=2))

    first = activity.activity_report(_year())
    rows = ActivityDay.objects.count()
    again = activity.activity_report(_year())

    assert first == again
    assert first.summary.visits == 3
    assert first.summary.unique_customers == 2
    assert rows > 0 and rows % 7 == 0  # whole weeks, a row a day, zeros included
    assert ActivityDay.objects.count() == rows
    assert ActivityDay.objects.filter(visits__gt=0).count() in (1, 2)  # a week may split


def test_rows_of_another_version_are_summed_again_not_read() -> None:
    _visit("cus_a", OLD)
    activity.activity_report(_year())
    ActivityDay.objects.update(version=SETTLED_VERSION + 1, visits=99)

    report = activity.activity_report(_year())

    assert report.summary.visits == 1
    assert ActivityDay.objects.filter(version=SETTLED_VERSION).exists()


def test_forgotten_days_are_summed_again() -> None:
    _visit("cus_a", OLD)
    activity.activity_report(_year())
    # Rows gone stale, e.g. the host deleted old visits or imported some.
    PortalSession.objects.all().delete()
    assert activity.activity_report(_year()).summary.visits == 1  # read from the rows

    assert forget_settled_days() > 0

    assert activity.activity_report(_year()).summary.visits == 0


def test_a_range_of_one_configuration_is_read_live() -> None:
    _visit("cus_a", OLD)

    activity.activity_report(ActivityRange.last_days(365, configuration="default"))

    assert not ActivityDay.objects.exists()


def test_an_old_visit_that_returns_is_counted_again(client: Client) -> None:
    visit = _visit("cus_a", OLD, return_key=new_return_key(), return_to="/account/")
    WebhookEvent.objects.create(
        stripe_id="evt_settled_change",
        type="customer.subscription.updated",
        created_at=OLD + dt.timedelta(minutes=5),
        payload={},
        portal_session=visit,
        change_kind=ChangeKind.PLAN_CHANGED,
    )
    before = activity.activity_report(_year()).summary
    assert (before.returned, before.changed, before.abandoned) == (0, 1, 0)

    response = client.get(reverse("stripe_portal:return", args=[sign_return_key(visit.return_key)]))

    assert response.status_code == 302
    after = activity.activity_report(_year()).summary
    assert (after.returned, after.changed, after.abandoned) == (1, 1, 0)


def test_a_recent_visit_that_returns_keeps_the_settled_rows(client: Client) -> None:
    _visit("cus_a", OLD)
    recent = _visit("cus_b", timezone.now() - dt.timedelta(hours=1), return_key=new_return_key())
    activity.activity_report(_year())
    rows = ActivityDay.objects.count()

    client.get(reverse("stripe_portal:return", args=[sign_return_key(recent.return_key)]))

    assert ActivityDay.objects.count() == rows
    assert activity.activity_report(_year()).summary.returned == 1


def test_an_old_event_replayed_is_counted_again() -> None:
    """A stored event of a settled week processed again (a retry, ``replay_stripe_events``)
    links its change to the visit then: the settled days from its week on are forgotten."""
    _visit("cus_old", OLD)
    obj = so.subscription(customer="cus_old", cancel_at_period_end=True)
    event = so.event(
        "customer.subscription.updated",
        obj,
        previous_attributes={"cancel_at_period_end": False},
        created=int((OLD + dt.timedelta(minutes=5)).timestamp()),
    )
    WebhookEventFactory(
        stripe_id=event["id"],
        type=event["type"],
        created_at=OLD + dt.timedelta(minutes=5),
        payload=event,
        status=WebhookEvent.Status.FAILED,
        attempts=1,
    )
    before = activity.activity_report(_year())
    assert before.summary.changed == 0

    call_command("replay_stripe_events", stdout=StringIO())

    after = activity.activity_report(_year())
    assert after.summary.changed == 1
    assert {o.outcome: o.visits for o in after.outcomes}[ChangeKind.CANCEL_SCHEDULED] == 1


#: In a whole week that is settled whatever today is, but within Stripe's 30 days.
LATE = timezone.now() - dt.timedelta(days=18)


def _late_cancellation(customer: str) -> dict[str, Any]:
    """A cancellation scheduled five minutes into a visit of ``LATE``: an event of then."""
    return so.event(
        "customer.subscription.updated",
        so.subscription(customer=customer, cancel_at_period_end=True),
        previous_attributes={"cancel_at_period_end": False},
        created=int((LATE + dt.timedelta(minutes=5)).timestamp()),
    )


def _settled_before_it_arrives(customer: str) -> None:
    _visit(customer, LATE)
    before = activity.activity_report(_year())
    assert before.summary.changed == 0
    late_day = timezone.localdate(LATE)
    assert ActivityDay.objects.filter(day=late_day, visits=1).exists()  # its week is settled


def test_an_event_delivered_days_late_is_counted(client: Client) -> None:
    """Stripe retried the delivery for days: its first arrival forgets the settled days."""
    _settled_before_it_arrives("cus_late")

    assert post_signed(client, _late_cancellation("cus_late")).status_code == 200

    after = activity.activity_report(_year())
    assert after.summary.changed == 1
    assert {o.outcome: o.visits for o in after.outcomes}[ChangeKind.CANCEL_SCHEDULED] == 1


def test_an_event_caught_up_after_an_outage_is_counted(stripe_events: FakeStripeEvents) -> None:
    _settled_before_it_arrives("cus_caught_up")
    stripe_events.create(
        "customer.subscription.updated",
        so.subscription(customer="cus_caught_up", cancel_at_period_end=True),
        previous_attributes={"cancel_at_period_end": False},
        created=int((LATE + dt.timedelta(minutes=5)).timestamp()),
        delivered=False,
    )

    call_command(
        "fetch_stripe_events",
        "--since",
        (LATE - dt.timedelta(days=1)).date().isoformat(),
        stdout=StringIO(),
        stderr=StringIO(),
    )

    assert WebhookEvent.objects.filter(received_via="events_api").count() == 1
    assert activity.activity_report(_year()).summary.changed == 1


def test_an_event_delivered_on_time_keeps_the_settled_rows(client: Client) -> None:
    _visit("cus_a", OLD)
    activity.activity_report(_year())
    rows = ActivityDay.objects.count()
    event = so.event(
        "customer.subscription.updated",
        so.subscription(customer="cus_b", cancel_at_period_end=True),
        previous_attributes={"cancel_at_period_end": False},
    )

    assert post_signed(client, event).status_code == 200

    assert ActivityDay.objects.count() == rows


#: Wed 9 Dec 2026 11:00 UTC: Thu 10 Dec 01:00 in Kiritimati (+14), Wed 9 Dec 00:00 in
#: Pago Pago (-11); their settled weeks end on Sun 6 Dec and on Sun 29 Nov.
TWO_ZONES_NOW = dt.datetime(2026, 12, 9, 11, 0, tzinfo=dt.UTC)
#: Sun 6 Dec 02:00 in Kiritimati (a settled week there), Sat 5 Dec 01:00 in Pago Pago.
TWO_ZONES_VISIT = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def _changed_in(zone: str) -> int:
    with override_settings(TIME_ZONE=zone):
        return activity.activity_report(ActivityRange.last_days(60)).summary.changed


def test_a_late_event_forgets_the_settled_rows_of_another_time_zone(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are kept per TIME_ZONE; an event that arrives late under another one still
    forgets them (its day there is up to two days off, its settled weeks one week)."""
    monkeypatch.setattr(timezone, "now", lambda: TWO_ZONES_NOW)
    _visit("cus_tz", TWO_ZONES_VISIT)
    assert _changed_in("Pacific/Kiritimati") == 0
    assert ActivityDay.objects.filter(
        time_zone="Pacific/Kiritimati", day=dt.date(2026, 12, 6), visits=1
    ).exists()
    event = so.event(
        "customer.subscription.updated",
        so.subscription(customer="cus_tz", cancel_at_period_end=True),
        previous_attributes={"cancel_at_period_end": False},
        created=int((TWO_ZONES_VISIT + dt.timedelta(minutes=5)).timestamp()),
    )

    with override_settings(TIME_ZONE="Pacific/Pago_Pago"):
        assert post_signed(client, event).status_code == 200

    assert _changed_in("Pacific/Pago_Pago") == 1
    assert _changed_in("Pacific/Kiritimati") == 1


def test_a_page_whose_only_new_event_is_recent_keeps_the_settled_rows() -> None:
    """Catch-up forgets from its page's oldest *new* event: one stored already (by a
    live delivery) is no news to the settled days."""
    old = timezone.now() - dt.timedelta(days=20)
    old_event = so.event(
        "customer.subscription.updated",
        so.subscription(customer="cus_old"),
        previous_attributes={"quantity": 2},
        created=int(old.timestamp()),
    )
    recent_event = so.event(
        "customer.subscription.updated",
        so.subscription(customer="cus_new"),
        previous_attributes={"quantity": 2},
    )

    def accepted(event: dict[str, Any]) -> Any:
        return accept_event(json.dumps(event).encode(), False)

    _visit("cus_settled", OLD)
    receive_event(*accepted(old_event))
    activity.activity_report(_year())
    rows = ActivityDay.objects.count()

    receive_batch(
        [accepted(old_event), accepted(recent_event)],
        received_via=WebhookEvent.ReceivedVia.EVENTS_API,
    )

    assert WebhookEvent.objects.count() == 2
    assert ActivityDay.objects.count() == rows


TASK_MODE = {"API_KEY": "sk_test_x", "WEBHOOK_SECRETS": [SECRET], "WEBHOOK_PROCESSING": "task"}
#: A backend that keeps the tasks, never runs them: the event stays pending.
DUMMY_TASKS = {
    "default": {
        "BACKEND": (
            "django.tasks.backends.dummy.DummyBackend"
            if django.VERSION >= (6, 0)
            else "django_tasks.backends.dummy.DummyBackend"
        )
    }
}


def _counted_now_and_summed_again() -> tuple[int, int]:
    """The year's changes as the settled rows say, and once they are summed again."""
    report = activity.activity_report(_year()).summary.changed
    forget_settled_days()
    return report, activity.activity_report(_year()).summary.changed


def test_task_mode_a_late_event_stored_pending_is_counted(client: Client) -> None:
    """Its row is stored linked to its visit before any task runs (after an outage, a
    backlog of them): the settled days it touches are forgotten then."""
    _settled_before_it_arrives("cus_task_late")
    with override_settings(STRIPE_PORTAL=TASK_MODE, TASKS=DUMMY_TASKS):
        assert post_signed(client, _late_cancellation("cus_task_late")).status_code == 200
        assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING

        assert _counted_now_and_summed_again() == (1, 1)


def test_task_mode_a_late_event_whose_processing_fails_is_counted(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task whose state write raises leaves the row failed, linked to its visit as it
    was stored (when the settled days it touches were forgotten): still counted."""
    from django_stripe_portal.tasks import process_webhook_event
    from django_stripe_portal.webhooks import process

    _settled_before_it_arrives("cus_task_fail")
    event = _late_cancellation("cus_task_fail")
    with override_settings(STRIPE_PORTAL=TASK_MODE, TASKS=DUMMY_TASKS):
        assert post_signed(client, event).status_code == 200
        activity.activity_report(_year())  # settled again meanwhile
        monkeypatch.setattr(process, "prepare_state_write", _raises)
        process_webhook_event.call(event["id"])
        assert WebhookEvent.objects.get().status == WebhookEvent.Status.FAILED

        assert _counted_now_and_summed_again() == (1, 1)


def _raises(*args: Any, **kwargs: Any) -> None:
    raise ValueError("state write failed")
