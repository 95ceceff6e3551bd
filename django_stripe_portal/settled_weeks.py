"""When a week of portal activity is settled, and forgetting settled days that changed.

``activity.settled`` sums a settled week once into ``ActivityDay`` rows. A change is
linked to a visit at most ``VISIT_WINDOW`` older than itself, and Stripe delivers an
event seconds after it happened: a day is settled once the window and three days
(Stripe's first retries, a slow worker) have passed since it began, a week once its
Sunday is. What arrives later still changes a settled day, and calls a ``forget_``
function here: a return to an old visit, an old event stored late (a delivery Stripe
retried for days, ``fetch_stripe_events`` after an outage) or processed again (a retry,
a replay). Kept apart from ``activity`` so that the webhook path can call it without
the reports.
"""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import ActivityDay

#: Days after a day (and ``VISIT_WINDOW``) before it settles: the day itself, and two
#: in which nearly every event has arrived. A later one forgets the days it touches, and
#: the next report sums them again (about 0.15 s a week at 1M visits a year).
_LATE_DAYS = 3

_WEEK = dt.timedelta(days=7)
#: An instant newer than this is on a day after every settled day, in any time zone
#: (a settled day is ``_LATE_DAYS`` days old at least; one day's margin for DST).
_RECENT = dt.timedelta(days=_LATE_DAYS - 2)


def settled_through(today: dt.date | None = None) -> dt.date:
    """The newest Sunday (``TIME_ZONE``) whose week nothing can change any more."""
    tz = timezone.get_default_timezone()
    today = today or timezone.localdate(timezone=tz)
    window_days = math.ceil(get_settings().VISIT_WINDOW / 86400)
    newest = today - dt.timedelta(days=_LATE_DAYS + window_days)
    return newest - dt.timedelta(days=(newest.weekday() + 1) % 7)


def _settled_day(instant: dt.datetime) -> dt.date | None:
    """The day of ``instant`` (``TIME_ZONE``) when its week may be settled, in this time
    zone or in another one rows were summed in (up to two days apart, so settled up to a
    week further), else None."""
    if instant > timezone.now() - _RECENT:  # nearly always: no local date to work out
        return None
    day = timezone.localdate(instant, timezone=timezone.get_default_timezone())
    return day if day <= settled_through() + _WEEK else None


def forget_settled_visit(created_at: dt.datetime) -> None:
    """A visit of ``created_at`` changed (it returned): if its week is settled, forget the
    days around it (its week in any time zone); the next report sums them again."""
    day = _settled_day(created_at)
    if day is not None:
        ActivityDay.objects.filter(day__gte=day - _WEEK, day__lte=day + _WEEK).delete()


def forget_settled_after(event_time: dt.datetime) -> None:
    """An event of ``event_time`` was stored or processed: it may have linked a change to
    a visit up to ``VISIT_WINDOW`` before it, or stored a visit every later day counts
    customers against. If that may touch a settled week, forget the settled days from
    the week before on. Costs a comparison for an event delivered on time."""
    day = _settled_day(event_time - dt.timedelta(seconds=get_settings().VISIT_WINDOW))
    if day is not None:
        ActivityDay.objects.filter(day__gte=day - _WEEK).delete()


def forget_settled_days() -> int:
    """Forget every settled day (after deleting or importing old visits or events); the
    next reports sum the weeks again. Returns the number of rows deleted."""
    deleted, _ = ActivityDay.objects.all().delete()
    return deleted
