"""The money of a range week by week, for the activity page's charts: the portal's
movements per currency, and weekly visits beside weekly cancellations (a drop in visits
often comes before cancellations). Weeks as in ``activity.weekly`` (Monday, ``TIME_ZONE``,
cut to the range); columns only, like ``activity.revenue``."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django_stripe_portal.activity.figures import ActivityRange
from django_stripe_portal.activity.range_money import RangeMoney, range_money
from django_stripe_portal.activity.weekly import WeekActivity, visits_per_week
from django_stripe_portal.events import ChangeKind

_CANCELLATIONS = (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)
_PLAN_CHANGES = (ChangeKind.PLAN_CHANGED, ChangeKind.QUANTITY_CHANGED)


@dataclass
class WeekMoney:
    """One week's portal movements in one currency (minor units per month)."""

    start: dt.date
    lost: int = 0  # canceled + contraction + paused
    gained: int = 0  # expansion + reactivated
    saved: int = 0


@dataclass
class WeekChurn:
    start: dt.date
    visits: int = 0
    cancellations: int = 0


@dataclass
class WeeklyMoney:
    #: ``{currency: [WeekMoney, …]}``, every week of the range in each.
    movements: dict[str, list[WeekMoney]] = field(default_factory=dict)
    churn: list[WeekChurn] = field(default_factory=list)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def weekly_money(
    activity_range: ActivityRange,
    visits: list[WeekActivity] | None = None,
    money: RangeMoney | None = None,
) -> WeeklyMoney:
    """Movements per week and currency, visits and cancellations per week (the range's
    money rows, ``range_money``, and its weeks' visits, read when not given)."""
    if visits is None:
        visits = visits_per_week(activity_range)
    mondays = [_monday(week.start) for week in visits]
    if money is None:
        money = range_money(activity_range)
    # Summed by week, currency and kind first: a week's plan changes count by their net.
    sums: dict[tuple[dt.date, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in money.movements:
        summed = sums[row["week"], row["currency"], row["change_kind"]]
        for index, key in enumerate(("before", "after", "change")):
            summed[index] += int(row[key] or 0)
    by_currency: dict[str, dict[dt.date, WeekMoney]] = defaultdict(dict)
    for (monday, currency, kind), (before, after, change) in sums.items():
        week = by_currency[currency].setdefault(monday, WeekMoney(monday))
        if kind in _CANCELLATIONS or kind == ChangeKind.PAUSED:
            week.lost += before
        elif kind in _PLAN_CHANGES:
            week.lost += max(0, -change)
            week.gained += max(0, change)
        elif kind == ChangeKind.REACTIVATED:
            week.gained += after
        elif kind == ChangeKind.RETENTION_ACCEPTED:
            week.saved += after
    movements = {
        currency: [found.get(monday) or WeekMoney(monday) for monday in mondays]
        for currency, found in sorted(by_currency.items())
    }
    per_week: dict[dt.date, int] = defaultdict(int)
    for row in money.cancellations:
        per_week[row["week"]] += row["n"]
    churn = [
        WeekChurn(week.start, week.visits, per_week.get(_monday(week.start), 0)) for week in visits
    ]
    return WeeklyMoney(movements, churn)
