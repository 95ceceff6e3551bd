"""Settled weeks (``activity.settled``): summed once into ``ActivityDay`` rows, read
instead of their visits, summed again when forgotten, and forgotten when an old visit
returns. That the figures equal a live count on every split: test_activity_random.py."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

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
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory, WebhookEventFactory
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import post_signed

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
