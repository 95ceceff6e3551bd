"""A range's money rows read once, by week: the revenue report sums them whole, its
weekly charts by week (the activity page needs both, and reads the rows once)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models.functions import TruncWeek
from django.utils import timezone

from django_stripe_portal.activity.figures import ActivityRange, date_of
from django_stripe_portal.activity.movements import (
    CANCELLATION_KEYS,
    MOVEMENT_KEYS,
    cancellation_rows,
    movement_rows,
)
from django_stripe_portal.activity.range_figures import RangeParts, range_parts
from django_stripe_portal.activity.settled import mode_key


@dataclass(frozen=True)
class RangeMoney:
    """``movement_rows`` by the week of the visit and ``cancellation_rows`` by the week
    of the event (each row's ``"week"``: its Monday), of every part of a range."""

    movements: list[dict[str, Any]]
    cancellations: list[dict[str, Any]]


def range_money(activity_range: ActivityRange, parts: RangeParts | None = None) -> RangeMoney:
    """Two queries a live part of the range; the settled days' rows."""
    if parts is None:
        parts = range_parts(activity_range)
    tz = timezone.get_default_timezone()
    week_of_visit = TruncWeek("portal_session__created_at", tzinfo=tz)
    week_of_event = TruncWeek("created_at", tzinfo=tz)
    movements: list[dict[str, Any]] = []
    cancellations: list[dict[str, Any]] = []
    for part in parts.live:
        movements += [
            {**row, "week": date_of(row["week"])} for row in movement_rows(part, week=week_of_visit)
        ]
        cancellations += [
            {**row, "week": date_of(row["week"])}
            for row in cancellation_rows(*part.bounds(), part.account, week=week_of_event)
        ]
    mode = mode_key()
    for day, settled in parts.settled.items():
        monday = day - dt.timedelta(days=day.weekday())
        movements += [
            {"week": monday, **dict(zip(MOVEMENT_KEYS, values, strict=True))}
            for values in settled.movements
        ]
        cancellations += [
            {"week": monday, **dict(zip(CANCELLATION_KEYS, values, strict=True))}
            for values in settled.cancellations.get(mode, [])
        ]
    return RangeMoney(movements, cancellations)
