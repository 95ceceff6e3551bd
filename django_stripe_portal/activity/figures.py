"""What customers did in the portal, aggregated in the database.

Built only on what the app already records: ``PortalSession`` rows (one per visit)
and the ``WebhookEvent`` rows the dispatcher linked to a visit
(``portal_session``) with the kind of change they made (``change_kind``).

Definitions (documented in ``docs/activity.md``, asserted in the tests):

* A *visit* is a ``PortalSession``; it belongs to the day of its ``created_at``
  in the project's ``TIME_ZONE``. A range is a pair of such days, both included.
* *Unique customers* counts distinct ``customer_id`` over the visits.
* *Return rate* is returned visits (``returned_at`` set) / visits.
* A visit *ended in* a change kind when at least one event of that kind is linked
  to it. A visit with several kinds counts once under each of them (no priority),
  so the outcome rows may add up to more than the visits; ``none`` counts the
  visits with no linked change at all and never overlaps the others.
* *Abandoned* visits neither returned nor changed anything.
* Cancellation reasons and retention offers: ``activity.cancellations``.

A change event linked to no visit counts nowhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import Lag, TruncDate, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext

from django_stripe_portal.activity.raw_rows import rows_around
from django_stripe_portal.conf import get_settings
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import PortalSession, WebhookEvent

#: The outcome name of a visit with no linked change.
NO_CHANGE = "none"

_DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ActivityRange:
    """Days ``start`` to ``end`` (both included) in ``TIME_ZONE``, optionally one
    configuration (its key in ``STRIPE_PORTAL['CONFIGURATIONS']``) and one account
    (``"acct_…"``, ``""`` for the platform; None: every account)."""

    start: dt.date
    end: dt.date
    configuration: str | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"The range ends ({self.end}) before it starts ({self.start}).")

    @classmethod
    def last_days(
        cls,
        days: int,
        configuration: str | None = None,
        today: dt.date | None = None,
        account: str | None = None,
    ) -> ActivityRange:
        """The ``days`` days up to and including today (in ``TIME_ZONE``)."""
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}.")
        end = today or timezone.localdate(timezone=timezone.get_default_timezone())
        start = end - dt.timedelta(days=days - 1)
        return cls(start=start, end=end, configuration=configuration, account=account)

    @property
    def days(self) -> list[dt.date]:
        count = (self.end - self.start).days + 1
        return [self.start + dt.timedelta(days=offset) for offset in range(count)]

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """Aware datetimes [first instant, instant after the last day) for an indexed
        range filter on ``created_at`` (no function applied to the column)."""
        tz = timezone.get_default_timezone()
        first = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return first, after


@dataclass(frozen=True)
class DayActivity:
    day: dt.date
    visits: int
    unique_customers: int


@dataclass(frozen=True)
class ActivitySummary:
    visits: int
    unique_customers: int
    returned: int
    changed: int
    abandoned: int

    @property
    def return_rate(self) -> float | None:
        """Returned visits / visits; ``None`` when there were no visits."""
        return self.returned / self.visits if self.visits else None


@dataclass(frozen=True)
class OutcomeCount:
    outcome: str  # a ChangeKind value, or NO_CHANGE
    label: str
    visits: int


def visits_in(activity_range: ActivityRange) -> QuerySet[PortalSession]:
    """The visits of the range (and configuration, when one is named)."""
    first, after = activity_range.bounds()
    visits = PortalSession.objects.filter(created_at__gte=first, created_at__lt=after)
    if activity_range.configuration is not None:
        visits = visits.filter(configuration__key=activity_range.configuration)
    if activity_range.account is not None:
        visits = visits.filter(account=activity_range.account)
    return visits


def linked_changes(activity_range: ActivityRange) -> QuerySet[WebhookEvent]:
    """Change events linked to the visits of the range.

    The events are also bounded by their own time, which lets the database read only
    the range's slice of the (partial) ``stripe_portal_evt_visit_change`` index instead
    of probing every visit: a change made during a visit is never older than the
    visit, and the dispatcher links it only within ``VISIT_WINDOW`` seconds (a day of
    slack is kept when the window is shorter).
    """
    return _linked(activity_range, ~Q(change_kind=""))


def linked_changes_of(
    activity_range: ActivityRange, kinds: Sequence[str]
) -> QuerySet[WebhookEvent]:
    """``linked_changes`` of some kinds only. The kinds replace the "any kind" condition
    rather than add to it: PostgreSQL multiplies the conditions' selectivities as if they
    were independent, and with both it expected a seventh of a year's cancellations and
    read them visit by visit through the rows (1 s at 200,000 visits, 0.2 s without)."""
    return _linked(activity_range, Q(change_kind__in=kinds))


def change_times(activity_range: ActivityRange) -> tuple[dt.datetime, dt.datetime]:
    """[first, after) instants that hold every change linked to the range's visits: a
    change made during a visit is never older than the visit, and the dispatcher links
    it only within ``VISIT_WINDOW`` seconds (a day of slack is kept when the window is
    shorter)."""
    first, after = activity_range.bounds()
    return first, after + dt.timedelta(seconds=max(get_settings().VISIT_WINDOW, _DAY_SECONDS))


def _linked(activity_range: ActivityRange, kinds: Q) -> QuerySet[WebhookEvent]:
    first, after = activity_range.bounds()
    changes_from, changes_before = change_times(activity_range)
    changes = WebhookEvent.objects.filter(
        kinds,
        created_at__gte=changes_from,
        created_at__lt=changes_before,
        portal_session__isnull=False,
        portal_session__created_at__gte=first,
        portal_session__created_at__lt=after,
    )
    if activity_range.configuration is not None:
        changes = changes.filter(portal_session__configuration__key=activity_range.configuration)
    if activity_range.account is not None:
        changes = changes.filter(portal_session__account=activity_range.account)
    return changes


def visits_per_day(activity_range: ActivityRange) -> list[DayActivity]:
    """Visits and distinct customers for every day of the range (zeros included)."""
    return days_of(activity_range, visit_days(activity_range))


def days_of(activity_range: ActivityRange, days: dict[dt.date, VisitDay]) -> list[DayActivity]:
    """``visits_per_day`` from the counts of ``visit_days``."""
    empty = VisitDay()
    return [
        DayActivity(day, days.get(day, empty).visits, days.get(day, empty).customers)
        for day in activity_range.days
    ]


@dataclass(frozen=True)
class VisitDay:
    """One day's counts from ``visit_days``."""

    visits: int = 0
    returned: int = 0
    #: Distinct customers of the day.
    customers: int = 0
    #: Customers whose last visit of the week (Monday to Sunday, ``TIME_ZONE``) in the
    #: range is on this day, and of the whole range: summed over the days of a week or of
    #: the range, they count each customer once.
    last_of_week: int = 0
    last_of_range: int = 0


def visit_days(activity_range: ActivityRange) -> dict[dt.date, VisitDay]:
    """Every figure of the range's visits, day by day, in one pass: the summary's visits,
    returns and unique customers, the days' and the weeks' distinct customers.

    Each visit is compared with the customer's next visit in the range (``LAG`` over the
    visits ordered as ``stripe_portal_sess_cust`` is: customer, newest first): the newest
    visit of a customer's day, week or range is the one whose next visit is on another
    day or week, or that has none. Counting those needs no hash or sort of customer ids,
    which at a year of visits spilled to disk and took most of the report's time.
    Django cannot group over a window, so the outer query is written here around the
    ORM's inner one.
    """
    tz = timezone.get_default_timezone()
    day = TruncDate("created_at", tzinfo=tz)
    week = TruncWeek("created_at", tzinfo=tz)
    customer, newest_first = [F("customer_id")], [F("created_at").desc()]
    visits = (
        visits_in(activity_range)
        .order_by()
        .annotate(
            visit_day=day,
            visit_week=week,
            newer_day=Window(Lag(day), partition_by=customer, order_by=newest_first),
            newer_week=Window(Lag(week), partition_by=customer, order_by=newest_first),
        )
        .values("visit_day", "visit_week", "returned_at", "newer_day", "newer_week")
    )
    rows = rows_around(
        visits,
        "SELECT v.visit_day, COUNT(*), COUNT(v.returned_at), "
        "SUM(CASE WHEN v.newer_day IS NULL OR v.newer_day <> v.visit_day THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN v.newer_week IS NULL OR v.newer_week <> v.visit_week THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN v.newer_day IS NULL THEN 1 ELSE 0 END) "
        "FROM ({inner}) v GROUP BY v.visit_day",
    )
    return {date_of(row[0]): VisitDay(*(int(n) for n in row[1:])) for row in rows}


def date_of(value: dt.date | dt.datetime | str) -> dt.date:
    """A date from raw SQL: SQLite hands back a string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value[:10])


def change_counts(activity_range: ActivityRange) -> dict[str, int]:
    """One pass over the range's changes: visits with any change, those of them that
    did not return, and visits per change kind (keys: the ``ChangeKind`` values)."""
    counts: dict[str, int] = linked_changes(activity_range).aggregate(**change_aggregates())
    return counts


def change_aggregates() -> dict[str, Count]:
    """The aggregates of ``change_counts``, by key (also summed day by day when a week
    settles, ``activity.settled``)."""
    per_kind = {
        kind.value: Count("portal_session", distinct=True, filter=Q(change_kind=kind.value))
        for kind in ChangeKind
    }
    return {
        "_changed": Count("portal_session", distinct=True),
        "_changed_not_returned": Count(
            "portal_session", distinct=True, filter=Q(portal_session__returned_at__isnull=True)
        ),
        **per_kind,
    }


def summary_of(days: dict[dt.date, VisitDay], changes: dict[str, int]) -> ActivitySummary:
    """The summary from the counts of ``visit_days`` and ``change_counts``."""
    visits = sum(day.visits for day in days.values())
    returned = sum(day.returned for day in days.values())
    return ActivitySummary(
        visits=visits,
        unique_customers=sum(day.last_of_range for day in days.values()),
        returned=returned,
        changed=changes["_changed"],
        abandoned=visits - returned - changes["_changed_not_returned"],
    )


def outcomes_of(summary: ActivitySummary, changes: dict[str, int]) -> list[OutcomeCount]:
    outcomes = [
        OutcomeCount(outcome=kind.value, label=str(kind.label), visits=changes[kind.value])
        for kind in ChangeKind
    ]
    unchanged = summary.visits - summary.changed
    outcomes.append(OutcomeCount(outcome=NO_CHANGE, label=gettext("no change"), visits=unchanged))
    return outcomes


def activity_summary(activity_range: ActivityRange) -> ActivitySummary:
    """Visits, unique customers, returns, visits with a change and abandoned visits
    (two aggregate queries: one over the visits, one over their changes)."""
    return summary_of(visit_days(activity_range), change_counts(activity_range))


def visit_outcomes(activity_range: ActivityRange) -> list[OutcomeCount]:
    """Visits per change kind they ended in, every kind listed, then ``none``."""
    changes = change_counts(activity_range)
    return outcomes_of(summary_of(visit_days(activity_range), changes), changes)
