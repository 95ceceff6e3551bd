"""Every count a range's report is made of, read from its settled weeks where it has
some (``activity.settled``) and live for the rest.

A range of every configuration and account splits into three parts: the days before
its first Monday (live), the whole settled weeks after them (their ``ActivityDay``
rows), and the days after the newest settled Sunday (live). Each part's counts are
exact, and they add up to the range's:

* visits, returns, changes, reasons and offers belong to one visit, hence to one part;
* a week's distinct customers: the first part's week is cut where the range starts and
  read live as cut, the settled weeks are whole, the last part starts on a Monday;
* the range's distinct customers: the first part's, plus the settled days' customers
  whose visit before was before the range (``settled.unseen_on``), plus the last
  part's customers with no visit in the range before that part (one query).

A range of one configuration or one account is read live: settled days sum every visit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from django.db.models import Exists, Min, OuterRef
from django.db.models.functions import TruncDate
from django.utils import timezone

from django_stripe_portal.activity.cancellations import (
    ReasonTally,
    add_tally,
    offer_rows,
    reason_rows,
    reason_tally,
)
from django_stripe_portal.activity.figures import (
    ActivityRange,
    VisitDay,
    change_counts,
    date_of,
    visit_days,
    visits_in,
)
from django_stripe_portal.activity.raw_rows import rows_around
from django_stripe_portal.activity.settled import settled_days, unseen_on
from django_stripe_portal.models import ActivityDay, PortalSession
from django_stripe_portal.settled_weeks import settled_through


@dataclass
class RangeFigures:
    """The counts ``activity_report`` and the activity page are made of."""

    days: dict[dt.date, VisitDay] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    reasons: ReasonTally = field(default_factory=lambda: ({}, {}))
    offers: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add(self, more: RangeFigures) -> None:
        """Add the counts of another part of the range."""
        self.days.update(more.days)
        for key, count in more.changes.items():
            self.changes[key] = self.changes.get(key, 0) + count
        add_tally(self.reasons, more.reasons)
        for coupon, (offers, accepted) in more.offers.items():
            before = self.offers.get(coupon, (0, 0))
            self.offers[coupon] = (before[0] + offers, before[1] + accepted)


@dataclass(frozen=True)
class RangeParts:
    """A range cut into its settled weeks' rows and the live days before and after them
    (no settled rows: the whole range is ``before``)."""

    before: ActivityRange | None
    settled: dict[dt.date, ActivityDay] = field(default_factory=dict)
    after: ActivityRange | None = None

    @property
    def live(self) -> list[ActivityRange]:
        """The live parts, oldest first."""
        return [part for part in (self.before, self.after) if part is not None]


def range_parts(activity_range: ActivityRange) -> RangeParts:
    """Cut the range where its settled weeks begin and end (the whole range is live when
    it names a configuration or an account, or holds no whole settled week)."""
    whole = activity_range.configuration is None and activity_range.account is None
    first_monday = activity_range.start + dt.timedelta(days=-activity_range.start.weekday() % 7)
    newest_settled = min(activity_range.end, settled_through())
    last_sunday = newest_settled - dt.timedelta(days=(newest_settled.weekday() + 1) % 7)
    if not whole or last_sunday < first_monday + dt.timedelta(days=6):
        return RangeParts(before=activity_range)
    before = None
    if activity_range.start < first_monday:
        before = replace(activity_range, end=first_monday - dt.timedelta(days=1))
    after = None
    if last_sunday < activity_range.end:
        after = replace(activity_range, start=last_sunday + dt.timedelta(days=1))
    return RangeParts(before, settled_days(first_monday, last_sunday), after)


def range_figures(activity_range: ActivityRange, parts: RangeParts | None = None) -> RangeFigures:
    """The range's counts: its settled weeks from their rows, the rest live (``parts``:
    the range already cut by ``range_parts``)."""
    if parts is None:
        parts = range_parts(activity_range)
    if not parts.settled:
        return live_figures(activity_range)
    figures = RangeFigures()
    if parts.before is not None:
        figures.add(live_figures(parts.before))
    figures.add(_settled_figures(parts.settled, activity_range.start))
    if parts.after is not None:
        figures.add(_newest_figures(parts.after, activity_range.start))
    return figures


def live_figures(activity_range: ActivityRange) -> RangeFigures:
    """The range's counts read from its visits and changes (four queries)."""
    return RangeFigures(
        days=visit_days(activity_range),
        changes=change_counts(activity_range),
        reasons=reason_tally(reason_rows(activity_range)),
        offers={
            row["retention_coupon"]: (row["offers"], row["accepted"])
            for row in offer_rows(activity_range)
        },
    )


def _settled_figures(rows: dict[dt.date, ActivityDay], range_start: dt.date) -> RangeFigures:
    figures = RangeFigures()
    for day, row in rows.items():
        figures.days[day] = VisitDay(
            visits=row.visits,
            returned=row.returned,
            customers=row.customers,
            last_of_week=row.last_of_week,
            last_of_range=unseen_on(row, range_start),
        )
        figures.add(
            RangeFigures(
                changes=row.changes,
                reasons=reason_tally(
                    {"feedback": f, "feedback_option": o, "label": label, "cancellations": n}
                    for f, o, label, n in row.cancellation_reasons
                ),
                offers={coupon: (n[0], n[1]) for coupon, n in row.retention_offers.items()},
            )
        )
    return figures


def _newest_figures(newest: ActivityRange, range_start: dt.date) -> RangeFigures:
    """The live part after the settled weeks, its customers counted once for the whole
    range: on the day of their first visit of this part, if the range had none before."""
    figures = live_figures(newest)
    unseen = _unseen_customers(newest, range_start)
    figures.days = {
        day: replace(counts, last_of_range=unseen.get(day, 0))
        for day, counts in figures.days.items()
    }
    return figures


def _unseen_customers(newest: ActivityRange, range_start: dt.date) -> Mapping[dt.date, int]:
    """Per day of ``newest``: its customers whose first visit since ``range_start`` is
    that day's."""
    tz = timezone.get_default_timezone()
    since, _ = replace(newest, start=range_start).bounds()
    part_first, _ = newest.bounds()
    earlier = PortalSession.objects.filter(
        customer_id=OuterRef("customer_id"), created_at__gte=since, created_at__lt=part_first
    )
    firsts = (
        visits_in(newest)
        .order_by()
        .filter(~Exists(earlier))
        .values("customer_id")
        .annotate(first_day=TruncDate(Min("created_at"), tzinfo=tz))
        .values("first_day")
    )
    rows = rows_around(firsts, "SELECT f.first_day, COUNT(*) FROM ({inner}) f GROUP BY f.first_day")
    return {date_of(day): int(count) for day, count in rows}
