"""The activity of a long range, week by week: a chart of a year's days is a smear, of
its weeks a shape. Weeks start on Monday (ISO), in ``TIME_ZONE``; the first and last
week are cut to the range, so every visit counts once and only in the range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django_stripe_portal.activity.figures import ActivityRange, VisitDay, visit_days

#: Ranges longer than this many days are charted by week.
WEEKLY_AFTER_DAYS = 60


@dataclass(frozen=True)
class WeekActivity:
    start: dt.date  # the Monday, or the range's first day for a cut first week
    end: dt.date  # the Sunday, or the range's last day
    visits: int
    unique_customers: int  # distinct over the week, not a sum of the days


def is_long(activity_range: ActivityRange) -> bool:
    return len(activity_range.days) > WEEKLY_AFTER_DAYS


def visits_per_week(activity_range: ActivityRange) -> list[WeekActivity]:
    """Visits and distinct customers for every week the range touches (zeros included)."""
    return weeks_of(activity_range, visit_days(activity_range))


def weeks_of(activity_range: ActivityRange, days: dict[dt.date, VisitDay]) -> list[WeekActivity]:
    """``visits_per_week`` from the counts of ``visit_days``: a week's distinct customers
    are the sum of its days' ``last_of_week``."""
    by_monday: dict[dt.date, tuple[int, int]] = {}
    for day, counts in days.items():
        monday = day - dt.timedelta(days=day.weekday())
        visits, customers = by_monday.get(monday, (0, 0))
        by_monday[monday] = (visits + counts.visits, customers + counts.last_of_week)
    monday = activity_range.start - dt.timedelta(days=activity_range.start.weekday())
    weeks = []
    while monday <= activity_range.end:
        visits, customers = by_monday.get(monday, (0, 0))
        weeks.append(
            WeekActivity(
                start=max(monday, activity_range.start),
                end=min(monday + dt.timedelta(days=6), activity_range.end),
                visits=visits,
                unique_customers=customers,
            )
        )
        monday += dt.timedelta(days=7)
    return weeks
