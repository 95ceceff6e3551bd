"""Whole weeks of portal activity old enough that nothing can change them, summed once.

A year's report read live goes through every visit and change of the year: at 1M
visits that is seconds, however the queries are written. A week nobody can add to
any more (``settled_weeks``) is summed once into an ``ActivityDay`` row a day, and a
range's figures add those rows to the live figures of its first and newest days
(``activity.range_figures``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.models import F, Min
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from django_stripe_portal.activity.cancellations import offer_rows, reason_rows
from django_stripe_portal.activity.figures import (
    ActivityRange,
    change_aggregates,
    date_of,
    linked_changes,
    visit_days,
    visits_in,
)
from django_stripe_portal.activity.movements import (
    CANCELLATION_KEYS,
    MOVEMENT_KEYS,
    cancellations_of_modes,
    movement_rows,
)
from django_stripe_portal.activity.raw_rows import rows_around
from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import ActivityDay, PortalSession

#: Bumped when what a row holds, or how it is summed, changes: older rows are then
#: summed again instead of read. 2: the changes, reasons, offers and money by week.
SETTLED_VERSION = 2

#: The key of ``ActivityDay.first_visit_gaps`` for a customer's first visit ever.
FIRST_EVER = "none"

_WEEK = dt.timedelta(days=7)

#: ``ActivityDay.cancellations``' key of each ``livemode``.
_MODES = {True: "live", False: "test"}


def mode_key() -> str:
    """The ``ActivityDay.cancellations`` key of the project's mode."""
    return _MODES[get_settings().livemode]


def settled_days(monday: dt.date, sunday: dt.date) -> dict[dt.date, ActivityDay]:
    """The rows of every day from ``monday`` to ``sunday`` (whole weeks, all settled),
    summing first the weeks that have none (every day of a summed week has a row,
    zeros included)."""
    time_zone = str(timezone.get_default_timezone())
    stored = ActivityDay.objects.filter(
        time_zone=time_zone, version=SETTLED_VERSION, day__gte=monday, day__lte=sunday
    )
    rows = {row.day: row for row in stored}
    for first, last in _missing_spans(monday, sunday, rows):
        summed = summed_days(ActivityRange(first, last), time_zone)
        ActivityDay.objects.bulk_create(summed, ignore_conflicts=True)
        rows.update((row.day, row) for row in summed)
    return rows


def _missing_spans(
    monday: dt.date, sunday: dt.date, rows: dict[dt.date, ActivityDay]
) -> Iterator[tuple[dt.date, dt.date]]:
    """Runs of consecutive weeks with a day that has no row, as (Monday, Sunday)."""
    start: dt.date | None = None
    week = monday
    while week <= sunday:
        complete = all(week + dt.timedelta(days=n) in rows for n in range(7))
        if not complete and start is None:
            start = week
        if complete and start is not None:
            yield start, week - dt.timedelta(days=1)
            start = None
        week += _WEEK
    if start is not None:
        yield start, sunday


def summed_days(weeks: ActivityRange, time_zone: str) -> list[ActivityDay]:
    """One unsaved row for every day of ``weeks`` (whole weeks): seven queries, whatever
    the number of weeks."""
    tz = timezone.get_default_timezone()
    # By the Monday of the visit's (or the cancellation's) week: see ActivityDay.
    visit_week = TruncWeek("created_at", tzinfo=tz)
    changed_visit_week = TruncWeek("portal_session__created_at", tzinfo=tz)
    days = visit_days(weeks)
    gaps = first_visit_gaps(weeks)
    changes: dict[dt.date, dict[str, int]] = {}
    for row in (
        linked_changes(weeks)
        .annotate(week=changed_visit_week)
        .values("week")
        .annotate(**change_aggregates())
        .order_by()
    ):
        week_counts: dict[str, Any] = dict(row)
        changes[date_of(week_counts.pop("week"))] = week_counts
    reasons: dict[dt.date, list[list[Any]]] = {}
    for row in reason_rows(weeks, week=changed_visit_week):
        reasons.setdefault(date_of(row["week"]), []).append(
            [row["feedback"], row["feedback_option"], row["label"], row["cancellations"]]
        )
    offers: dict[dt.date, dict[str, list[int]]] = {}
    for row in offer_rows(weeks, week=visit_week):
        offers.setdefault(date_of(row["week"]), {})[row["retention_coupon"]] = [
            row["offers"],
            row["accepted"],
        ]
    movements: dict[dt.date, list[list[Any]]] = {}
    for row in movement_rows(weeks, week=changed_visit_week):
        movements.setdefault(date_of(row["week"]), []).append([row[key] for key in MOVEMENT_KEYS])
    cancellations: dict[dt.date, dict[str, list[list[Any]]]] = {}
    first, after = weeks.bounds()
    for row in cancellations_of_modes(first, after, None, week=visit_week, mode=F("livemode")):
        by_mode = cancellations.setdefault(date_of(row["week"]), {})
        by_mode.setdefault(_MODES[row["mode"]], []).append([row[key] for key in CANCELLATION_KEYS])
    rows = []
    for day in weeks.days:
        counts = days.get(day)
        rows.append(
            ActivityDay(
                time_zone=time_zone,
                day=day,
                version=SETTLED_VERSION,
                visits=counts.visits if counts else 0,
                returned=counts.returned if counts else 0,
                customers=counts.customers if counts else 0,
                last_of_week=counts.last_of_week if counts else 0,
                first_visit_gaps=gaps.get(day, {}),
                changes=changes.get(day, {}),
                cancellation_reasons=reasons.get(day, []),
                retention_offers=offers.get(day, {}),
                movements=movements.get(day, []),
                cancellations=cancellations.get(day, {}),
            )
        )
    return rows


def first_visit_gaps(activity_range: ActivityRange) -> dict[dt.date, dict[str, int]]:
    """Per day: the customers of the day, by the days since their visit before that
    day (``FIRST_EVER`` for none): a range starting ``n`` days before the day has not
    seen the customers whose gap is more than ``n``."""
    tz = timezone.get_default_timezone()
    firsts = (
        visits_in(activity_range)
        .order_by()
        .annotate(visit_day=TruncDate("created_at", tzinfo=tz))
        .values("customer_id", "visit_day")
        .annotate(first_at=Min("created_at"))
    )
    connection = connections[firsts.db]
    quote = connection.ops.quote_name
    table, customer, created = (
        quote(PortalSession._meta.db_table),
        quote("customer_id"),
        quote("created_at"),
    )
    # The customer's visit before the day's first one: the newest entry before it in
    # ``stripe_portal_sess_cust`` (customer, newest first), one index probe a row.
    before_sql, before_params = connection.ops.datetime_cast_date_sql(
        f"(SELECT MAX(p.{created}) FROM {table} p "  # noqa: S608
        f"WHERE p.{customer} = f.customer_id AND p.{created} < f.first_at)",
        (),
        str(tz),
    )
    found = rows_around(
        firsts,
        f"SELECT f.visit_day, {before_sql}, COUNT(*) FROM ({{inner}}) f GROUP BY 1, 2",  # noqa: S608
        before_params,
    )
    gaps: dict[dt.date, dict[str, int]] = {}
    for day, before, count in found:
        day = date_of(day)
        gap = FIRST_EVER if before is None else str((day - date_of(before)).days)
        gaps.setdefault(day, {})[gap] = int(count)
    return gaps


def unseen_on(row: ActivityDay, range_start: dt.date) -> int:
    """The customers of ``row``'s day that a range starting on ``range_start`` has not
    seen on an earlier day."""
    seen_within = (row.day - range_start).days
    return sum(
        count
        for gap, count in row.first_visit_gaps.items()
        if gap == FIRST_EVER or int(gap) > seen_within
    )
