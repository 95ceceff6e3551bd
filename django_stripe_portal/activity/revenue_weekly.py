"""The money of a range week by week, for the activity page's charts: the portal's
movements per currency, and weekly visits beside weekly cancellations (a drop in visits
often comes before cancellations). Weeks as in ``activity.weekly`` (Monday, ``TIME_ZONE``,
cut to the range); columns only, like ``activity.revenue``."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from django_stripe_portal.activity.figures import ActivityRange, linked_changes
from django_stripe_portal.activity.weekly import WeekActivity, visits_per_week
from django_stripe_portal.conf import get_settings
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import WebhookEvent

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
    activity_range: ActivityRange, visits: list[WeekActivity] | None = None
) -> WeeklyMoney:
    """Movements per week and currency, visits and cancellations per week (three queries;
    two when the weeks' ``visits`` are given)."""
    tz = timezone.get_default_timezone()
    if visits is None:
        visits = visits_per_week(activity_range)
    mondays = [_monday(week.start) for week in visits]
    rows: Any = (
        linked_changes(activity_range)
        .exclude(currency="")
        .annotate(week=TruncWeek("portal_session__created_at", tzinfo=tz))
        .values("week", "currency", "change_kind")
        .annotate(
            before=Sum("run_rate_before"),
            after=Sum("run_rate_after"),
            change=Sum(F("run_rate_after") - F("run_rate_before")),
        )
        .order_by()
    )
    by_currency: dict[str, dict[dt.date, WeekMoney]] = defaultdict(dict)
    for row in rows:
        monday = _as_date(row["week"])
        week = by_currency[row["currency"]].setdefault(monday, WeekMoney(monday))
        kind, change = row["change_kind"], int(row["change"] or 0)
        if kind in _CANCELLATIONS:
            week.lost += int(row["before"] or 0)
        elif kind == ChangeKind.PAUSED:
            week.lost += int(row["before"] or 0)
        elif kind in _PLAN_CHANGES:
            week.lost += max(0, -change)
            week.gained += max(0, change)
        elif kind == ChangeKind.REACTIVATED:
            week.gained += int(row["after"] or 0)
        elif kind == ChangeKind.RETENTION_ACCEPTED:
            week.saved += int(row["after"] or 0)
    movements = {
        currency: [found.get(monday) or WeekMoney(monday) for monday in mondays]
        for currency, found in sorted(by_currency.items())
    }
    first, after = activity_range.bounds()
    cancellations = dict(
        WebhookEvent.objects.filter(
            created_at__gte=first,
            created_at__lt=after,
            change_kind__in=_CANCELLATIONS,
            livemode=get_settings().livemode,
            **({} if activity_range.account is None else {"account": activity_range.account}),
        )
        .annotate(week=TruncWeek("created_at", tzinfo=tz))
        .values("week")
        .annotate(n=Count("*"))  # not the id: stripe_portal_evt_cancellation holds no id
        .order_by()
        .values_list("week", "n")
    )
    per_week = {_as_date(week): n for week, n in cancellations.items()}
    churn = [
        WeekChurn(week.start, week.visits, per_week.get(_monday(week.start), 0)) for week in visits
    ]
    return WeeklyMoney(movements, churn)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
