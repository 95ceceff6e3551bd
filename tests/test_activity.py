"""Exact figures of every activity aggregate, on a small hand-built history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings

from django_stripe_portal import activity
from django_stripe_portal.activity import ActivityRange
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import PortalSession, WebhookEvent
from tests import stripe_objects
from tests.factories import PortalConfigurationFactory, PortalSessionFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOV_1 = dt.date(2026, 11, 1)
NOV_3 = dt.date(2026, 11, 3)

_EVENT_TYPES = {
    ChangeKind.CANCELED: "customer.subscription.deleted",
    ChangeKind.PAYMENT_METHOD_CHANGED: "payment_method.attached",
}


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def visit(customer: str, created_at: dt.datetime, **fields: Any) -> PortalSession:
    session: PortalSession = PortalSessionFactory(
        customer_id=customer, created_at=created_at, **fields
    )
    return session


def change(
    session: PortalSession | None,
    kind: str,
    created_at: dt.datetime,
    *,
    customer: str = "cus_a",
    feedback: str | None = None,
) -> WebhookEvent:
    """A stored, dispatched event as the webhook engineer's dispatcher leaves it."""
    event_type = _EVENT_TYPES.get(kind, "customer.subscription.updated")  # type: ignore[call-overload]
    subscription = stripe_objects.subscription(
        customer=customer,
        cancel_at_period_end=kind == ChangeKind.CANCEL_SCHEDULED,
        cancellation_details=(
            {"reason": "cancellation_requested", "feedback": feedback}
            if kind in (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)
            else None
        ),
    )
    payload = stripe_objects.event(event_type, subscription, created=int(created_at.timestamp()))
    event: WebhookEvent = WebhookEventFactory(
        stripe_id=payload["id"],
        type=event_type,
        payload=payload,
        customer_id=customer,
        created_at=created_at,
        portal_session=session,
        change_kind=kind,
    )
    return event


@pytest.fixture
def history() -> dict[str, PortalSession]:
    """Visits on 1 to 3 November 2026 (UTC) plus neighbours just outside the range.

    v1 cus_a 1 Nov, returned, two changes (cancellation scheduled + plan change)
    v2 cus_a 1 Nov, not returned, nothing                 -> abandoned
    v3 cus_a 1 Nov, returned, nothing
    v4 cus_b 2 Nov, not returned, new card (+ an event linked without a change kind)
    v5 cus_c 3 Nov 23:30, other configuration, immediate cancellation, no feedback
    before / after: one second outside the range, with changes that must not count
    """
    default = PortalConfigurationFactory(key="default")
    annual = PortalConfigurationFactory(key="annual")
    v1 = visit("cus_a", at(1, 10), returned_at=at(1, 10, 5), configuration=default)
    v2 = visit("cus_a", at(1, 12), configuration=default)
    v3 = visit("cus_a", at(1, 13), returned_at=at(1, 13, 2), configuration=default)
    v4 = visit("cus_b", at(2, 9), configuration=default)
    v5 = visit("cus_c", at(3, 23, 30), configuration=annual)
    before = visit("cus_c", at(1, 0) - dt.timedelta(seconds=1), configuration=default)
    after = visit("cus_d", at(4, 0), configuration=default)

    change(v1, ChangeKind.CANCEL_SCHEDULED, at(1, 10, 1), feedback="too_expensive")
    change(v1, ChangeKind.PLAN_CHANGED, at(1, 10, 3))
    change(v4, ChangeKind.PAYMENT_METHOD_CHANGED, at(2, 9, 1), customer="cus_b")
    change(v4, "", at(2, 9, 2), customer="cus_b")
    change(v5, ChangeKind.CANCELED, at(3, 23, 31), customer="cus_c")
    change(before, ChangeKind.CANCEL_SCHEDULED, at(1, 0, 1), customer="cus_c", feedback="unused")
    change(after, ChangeKind.QUANTITY_CHANGED, at(4, 0, 1), customer="cus_d")
    # A change outside any visit (made in the Dashboard or through the API).
    change(None, ChangeKind.CANCEL_SCHEDULED, at(2, 15), feedback="too_expensive")
    return {"v1": v1, "v2": v2, "v3": v3, "v4": v4, "v5": v5}


def outcomes_of(activity_range: ActivityRange) -> dict[str, int]:
    return {row.outcome: row.visits for row in activity.visit_outcomes(activity_range)}


def test_summary(history: dict[str, PortalSession]) -> None:
    summary = activity.activity_summary(ActivityRange(NOV_1, NOV_3))

    assert summary == activity.ActivitySummary(
        visits=5, unique_customers=3, returned=2, changed=3, abandoned=1
    )
    assert summary.return_rate == pytest.approx(0.4)


def test_visits_per_day_count_customers_not_sessions(history: dict[str, PortalSession]) -> None:
    days = activity.visits_per_day(ActivityRange(NOV_1, NOV_3))

    assert [(d.day.day, d.visits, d.unique_customers) for d in days] == [
        (1, 3, 1),
        (2, 1, 1),
        (3, 1, 1),
    ]


def test_outcomes_count_a_visit_under_each_kind_it_made(
    history: dict[str, PortalSession],
) -> None:
    outcomes = outcomes_of(ActivityRange(NOV_1, NOV_3))

    assert outcomes == {
        "canceled": 1,
        "cancel_scheduled": 1,
        "reactivated": 0,
        "plan_changed": 1,
        "quantity_changed": 0,
        "paused": 0,
        "resumed": 0,
        "retention_accepted": 0,
        "payment_method_changed": 1,
        "customer_details_changed": 0,
        "none": 2,
    }
    assert list(outcomes) == [*ChangeKind.values, "none"]


def test_two_changes_of_one_kind_in_one_visit_count_one_visit(
    history: dict[str, PortalSession],
) -> None:
    change(history["v1"], ChangeKind.PLAN_CHANGED, at(1, 10, 4))

    assert outcomes_of(ActivityRange(NOV_1, NOV_3))["plan_changed"] == 1


def test_cancellation_reasons(history: dict[str, PortalSession]) -> None:
    change(history["v4"], ChangeKind.CANCEL_SCHEDULED, at(2, 9, 3), feedback="too_expensive")

    reasons = activity.cancellation_reasons(ActivityRange(NOV_1, NOV_3))

    assert [(r.feedback, r.cancellations) for r in reasons] == [
        ("too_expensive", 2),
        (None, 1),
    ]


def test_filter_by_configuration(history: dict[str, PortalSession]) -> None:
    default = ActivityRange(NOV_1, NOV_3, configuration="default")
    annual = ActivityRange(NOV_1, NOV_3, configuration="annual")

    assert activity.activity_summary(default) == activity.ActivitySummary(
        visits=4, unique_customers=2, returned=2, changed=2, abandoned=1
    )
    assert outcomes_of(annual)["canceled"] == 1
    assert outcomes_of(default)["canceled"] == 0
    assert [(r.feedback, r.cancellations) for r in activity.cancellation_reasons(annual)] == [
        (None, 1)
    ]
    per_day = [(d.visits, d.unique_customers) for d in activity.visits_per_day(annual)]
    assert per_day == [(0, 0), (0, 0), (1, 1)]
    unknown = ActivityRange(NOV_1, NOV_3, configuration="nope")
    assert activity.activity_summary(unknown).visits == 0


def test_empty_range(history: dict[str, PortalSession]) -> None:
    empty = ActivityRange(dt.date(2026, 10, 1), dt.date(2026, 10, 2))

    report = activity.activity_report(empty)

    assert report.summary == activity.ActivitySummary(0, 0, 0, 0, 0)
    assert report.summary.return_rate is None
    assert [(d.day.day, d.visits, d.unique_customers) for d in report.per_day] == [
        (1, 0, 0),
        (2, 0, 0),
    ]
    assert {o.visits for o in report.outcomes} == {0}
    assert report.cancellation_reasons == []


def test_range_edges_are_whole_days(history: dict[str, PortalSession]) -> None:
    assert activity.activity_summary(ActivityRange(NOV_1, NOV_1)).visits == 3
    assert activity.activity_summary(ActivityRange(NOV_3, NOV_3)).visits == 1
    assert activity.activity_summary(ActivityRange(NOV_1, dt.date(2026, 11, 4))).visits == 6


@override_settings(TIME_ZONE="America/New_York")
def test_days_are_counted_in_the_project_time_zone() -> None:
    # 1 Nov 2026 is the day US daylight saving time ends: a 25-hour day in New York.
    visit("cus_a", at(1, 4, 30))  # 00:30 EDT, 1 Nov
    visit("cus_b", at(2, 3, 0))  # 22:00 EST, 1 Nov (already 2 Nov in UTC)
    visit("cus_c", at(2, 5, 0))  # 00:00 EST, 2 Nov
    visit("cus_d", at(1, 3, 59))  # 23:59 EDT, 31 Oct

    days = activity.visits_per_day(ActivityRange(NOV_1, dt.date(2026, 11, 2)))

    assert [(d.day.day, d.visits) for d in days] == [(1, 2), (2, 1)]
    assert activity.activity_summary(ActivityRange(NOV_1, NOV_1)).unique_customers == 2


def test_many_visits_of_one_customer_in_one_day_are_one_customer() -> None:
    for minute in range(6):
        visit("cus_busy", at(2, 8, minute * 7))
    visit("cus_other", at(2, 23, 59))

    (day,) = activity.visits_per_day(ActivityRange(dt.date(2026, 11, 2), dt.date(2026, 11, 2)))

    assert (day.visits, day.unique_customers) == (7, 2)


def test_customer_history_lists_visits_with_their_changes(
    history: dict[str, PortalSession],
) -> None:
    entries = activity.customer_history("cus_a")

    assert [entry.visit.pk for entry in entries] == [
        history["v3"].pk,
        history["v2"].pk,
        history["v1"].pk,
    ]
    assert [list(entry.changes) for entry in entries[:2]] == [[], []]
    kinds = [(c.change_kind, c.feedback) for c in entries[2].changes]  # type: ignore[attr-defined]
    assert kinds == [("cancel_scheduled", "too_expensive"), ("plan_changed", None)]


def test_customer_history_within_a_range_and_limit(history: dict[str, PortalSession]) -> None:
    assert activity.customer_history("cus_c", ActivityRange(NOV_1, NOV_3))[0].visit.pk == (
        history["v5"].pk
    )
    assert len(activity.customer_history("cus_c")) == 2
    assert len(activity.customer_history("cus_a", limit=1)) == 1
    assert activity.customer_history("cus_nobody") == []


def test_report_as_dict_is_the_documented_layout(history: dict[str, PortalSession]) -> None:
    data = activity.activity_report(ActivityRange(NOV_1, NOV_3, "default")).as_dict()

    assert data["version"] == 1
    assert data["range"] == {
        "start": "2026-11-01",
        "end": "2026-11-03",
        "time_zone": "UTC",
        "configuration": "default",
        "account": None,
    }
    assert data["summary"] == {
        "visits": 4,
        "unique_customers": 2,
        "returned": 2,
        "changed": 2,
        "abandoned": 1,
        "return_rate": 0.5,
    }
    assert data["per_day"][0] == {"date": "2026-11-01", "visits": 3, "unique_customers": 1}
    assert data["outcomes"][0] == {
        "outcome": "canceled",
        "label": "subscription canceled",
        "visits": 0,
    }
    assert data["cancellation_reasons"] == [
        {
            "feedback": "too_expensive",
            "cancellations": 1,
            "feedback_option": None,
            "feedback_option_description": None,
        }
    ]
    assert data["retention_offers"] == []


def test_range_validation() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        ActivityRange(NOV_3, NOV_1)
    with pytest.raises(ValueError, match="at least 1"):
        ActivityRange.last_days(0)
    last_week = ActivityRange.last_days(7, today=NOV_3)
    assert (last_week.start, last_week.end) == (dt.date(2026, 10, 28), NOV_3)


def test_a_change_hours_into_a_visit_still_counts() -> None:
    # The queries bound events by time (VISIT_WINDOW, at least a day): a change linked
    # to a visit that began late on the last day of the range, made hours later, counts.
    late = visit("cus_late", at(3, 23, 50))
    change(late, ChangeKind.PLAN_CHANGED, at(4, 5), customer="cus_late")

    summary = activity.activity_summary(ActivityRange(NOV_1, NOV_3))

    assert (summary.visits, summary.changed, summary.abandoned) == (1, 1, 0)
    assert outcomes_of(ActivityRange(NOV_1, NOV_3))["plan_changed"] == 1
