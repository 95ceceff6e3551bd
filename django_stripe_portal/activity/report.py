"""Every figure of one range in one object, as the command and the admin page show them,
and its stable JSON layout (``docs/activity.md``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils import timezone

from django_stripe_portal.activity.cancellations import (
    ReasonCount,
    RetentionCount,
    offers_of,
    reasons_of,
)
from django_stripe_portal.activity.figures import (
    ActivityRange,
    ActivitySummary,
    DayActivity,
    OutcomeCount,
    days_of,
    outcomes_of,
    summary_of,
)
from django_stripe_portal.activity.jit import without_jit
from django_stripe_portal.activity.range_figures import RangeFigures, range_figures

#: Version of the dictionary layout returned by ``ActivityReport.as_dict`` (and the
#: command's JSON). Bumped only when a key is removed or changes meaning.
REPORT_VERSION = 1


@dataclass(frozen=True)
class ActivityReport:
    """Every figure for one range, as the command and the admin page show them."""

    range: ActivityRange
    summary: ActivitySummary
    per_day: list[DayActivity]
    outcomes: list[OutcomeCount]
    cancellation_reasons: list[ReasonCount]
    retention_offers: list[RetentionCount] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON layout documented in ``docs/activity.md``."""
        summary = asdict(self.summary)
        rate = self.summary.return_rate
        summary["return_rate"] = None if rate is None else round(rate, 4)
        return {
            "version": REPORT_VERSION,
            "range": {
                "start": self.range.start.isoformat(),
                "end": self.range.end.isoformat(),
                "time_zone": str(timezone.get_default_timezone()),
                "configuration": self.range.configuration,
                "account": self.range.account,
            },
            "summary": summary,
            "per_day": [
                {
                    "date": day.day.isoformat(),
                    "visits": day.visits,
                    "unique_customers": day.unique_customers,
                }
                for day in self.per_day
            ],
            "outcomes": [asdict(outcome) for outcome in self.outcomes],
            "cancellation_reasons": [asdict(reason) for reason in self.cancellation_reasons],
            "retention_offers": [
                {
                    **asdict(offer),
                    "save_rate": None if offer.save_rate is None else round(offer.save_rate, 4),
                }
                for offer in self.retention_offers
            ],
        }


def activity_report(activity_range: ActivityRange) -> ActivityReport:
    """All the figures of one range: its settled weeks from their rows, the rest in four
    aggregate queries a part (``activity.range_figures``), a last one to name custom
    feedback options when a cancellation picked one; on PostgreSQL in one transaction
    with the JIT off."""
    with without_jit():
        return report_of(activity_range, range_figures(activity_range))


def report_of(activity_range: ActivityRange, figures: RangeFigures) -> ActivityReport:
    """``activity_report`` on the range's counts already read (``range_figures``), which
    the admin page also charts by week (the page turns the JIT off around all its
    queries)."""
    summary = summary_of(figures.days, figures.changes)
    return ActivityReport(
        range=activity_range,
        summary=summary,
        per_day=days_of(activity_range, figures.days),
        outcomes=outcomes_of(summary, figures.changes),
        cancellation_reasons=reasons_of(figures.reasons),
        retention_offers=offers_of(figures.offers),
    )
