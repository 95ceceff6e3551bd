"""Weeks for long ranges: visits once each, customers distinct over the whole week (not
a sum of days), the first and last week cut to the range, in TIME_ZONE."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from django_stripe_portal import activity
from django_stripe_portal.activity import ActivityRange, WeekActivity
from tests.factories import PortalSessionFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def test_weeks_count_distinct_customers_over_the_week() -> None:
    # 2026-11-02 is a Monday. cus_a visits on Monday and Wednesday: one customer that week.
    for day, customer in [(2, "cus_a"), (4, "cus_a"), (4, "cus_b"), (10, "cus_a"), (22, "cus_c")]:
        PortalSessionFactory(
            customer_id=customer, created_at=dt.datetime(2026, 11, day, 12, tzinfo=UTC)
        )
    PortalSessionFactory(customer_id="cus_x", created_at=dt.datetime(2026, 10, 31, 12, tzinfo=UTC))

    weeks = activity.visits_per_week(ActivityRange(dt.date(2026, 11, 1), dt.date(2026, 11, 24)))

    assert weeks == [
        WeekActivity(dt.date(2026, 11, 1), dt.date(2026, 11, 1), 0, 0),  # Sunday: cut week
        WeekActivity(dt.date(2026, 11, 2), dt.date(2026, 11, 8), 3, 2),
        WeekActivity(dt.date(2026, 11, 9), dt.date(2026, 11, 15), 1, 1),
        WeekActivity(dt.date(2026, 11, 16), dt.date(2026, 11, 22), 1, 1),
        WeekActivity(dt.date(2026, 11, 23), dt.date(2026, 11, 24), 0, 0),
    ]


@override_settings(TIME_ZONE="America/New_York")
def test_weeks_are_cut_in_the_project_time_zone() -> None:
    # Monday 2026-11-09 01:00 UTC is still Sunday evening in New York: the week before.
    PortalSessionFactory(customer_id="cus_a", created_at=dt.datetime(2026, 11, 9, 1, tzinfo=UTC))

    weeks = activity.visits_per_week(ActivityRange(dt.date(2026, 11, 2), dt.date(2026, 11, 15)))

    assert [(week.start, week.visits) for week in weeks] == [
        (dt.date(2026, 11, 2), 1),
        (dt.date(2026, 11, 9), 0),
    ]


def test_long_ranges_are_weekly() -> None:
    assert not activity.weekly.is_long(ActivityRange.last_days(60))
    assert activity.weekly.is_long(ActivityRange.last_days(61))
