"""When a week of portal activity is settled, and forgetting settled days that changed.

``activity.settled`` sums a settled week once into ``ActivityDay`` rows. Stripe lists
and resends events of the last 30 days only, so an event (and the webhook-only visit
or the change it stores) arrives at most 30 days after it happened, and a change is
linked to a visit at most ``VISIT_WINDOW`` older than itself: a day is settled once
that much time, and two days' margin, has passed since it began; a week once its
Sunday is. What can still change a settled day calls a ``forget_`` function here: a
return to an old visit, and an old stored event processed again (a retry, a replay).
Kept apart from ``activity`` so that the webhook path can call it without the reports.
"""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import ActivityDay

#: Stripe lists and resends an event for 30 days; one more for the day itself, one margin.
_LATE_DAYS = 32

_WEEK = dt.timedelta(days=7)
#: A visit newer than this is days away from any settled day, in any time zone.
_RECENT = dt.timedelta(days=_LATE_DAYS - 4)


def settled_through(today: dt.date | None = None) -> dt.date:
    """The newest Sunday (``TIME_ZONE``) whose week nothing can change any more."""
    tz = timezone.get_default_timezone()
    today = today or timezone.localdate(timezone=tz)
    window_days = math.ceil(get_settings().VISIT_WINDOW / 86400)
    newest = today - dt.timedelta(days=_LATE_DAYS + window_days)
    return newest - dt.timedelta(days=(newest.weekday() + 1) % 7)


def _settled_day(instant: dt.datetime) -> dt.date | None:
    """The day of ``instant`` (``TIME_ZONE``) when its week may be settled, else None."""
    day = timezone.localdate(instant, timezone=timezone.get_default_timezone())
    return day if day <= settled_through() + _WEEK else None


def forget_settled_visit(created_at: dt.datetime) -> None:
    """A visit of ``created_at`` changed (it returned): if its week is settled, forget the
    days around it (its week in any time zone); the next report sums them again."""
    day = _settled_day(created_at)
    if day is not None:
        ActivityDay.objects.filter(day__gte=day - _WEEK, day__lte=day + _WEEK).delete()


def forget_settled_after(event_time: dt.datetime) -> None:
    """An event of ``event_time`` was processed again: it may have linked a change to a
    visit up to ``VISIT_WINDOW`` before it, or stored a visit every later day counts
    customers against. If that may touch a settled week, forget the settled days from
    the week before on."""
    since = event_time - dt.timedelta(seconds=get_settings().VISIT_WINDOW)
    if since > timezone.now() - _RECENT:  # nearly every event: no local date to work out
        return
    day = _settled_day(since)
    if day is not None:
        ActivityDay.objects.filter(day__gte=day - _WEEK).delete()


def forget_settled_days() -> int:
    """Forget every settled day (after deleting or importing old visits or events); the
    next reports sum the weeks again. Returns the number of rows deleted."""
    deleted, _ = ActivityDay.objects.all().delete()
    return deleted
