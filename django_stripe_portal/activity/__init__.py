"""What customers did in the portal, aggregated in the database (``figures``).

The public names of ``django_stripe_portal.activity`` are importable from here;
``docs/activity.md`` says what each figure means and how it is computed.
"""

from django_stripe_portal.activity.figures import (
    NO_CHANGE,
    REPORT_VERSION,
    ActivityRange,
    ActivityReport,
    ActivitySummary,
    DayActivity,
    OutcomeCount,
    ReasonCount,
    VisitHistory,
    activity_report,
    activity_summary,
    cancellation_reasons,
    customer_history,
    linked_changes,
    visit_outcomes,
    visits_in,
    visits_per_day,
)
from django_stripe_portal.activity.weekly import WEEKLY_AFTER_DAYS, WeekActivity, visits_per_week

__all__ = [
    "NO_CHANGE",
    "REPORT_VERSION",
    "WEEKLY_AFTER_DAYS",
    "ActivityRange",
    "ActivityReport",
    "ActivitySummary",
    "DayActivity",
    "OutcomeCount",
    "ReasonCount",
    "VisitHistory",
    "WeekActivity",
    "activity_report",
    "activity_summary",
    "cancellation_reasons",
    "customer_history",
    "linked_changes",
    "visit_outcomes",
    "visits_in",
    "visits_per_day",
    "visits_per_week",
]
