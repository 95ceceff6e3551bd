"""What customers did in the portal, aggregated in the database (``figures``), one
customer's visits (``history``) and who may be about to leave (``at_risk``).

The public names of ``django_stripe_portal.activity`` are importable from here;
``docs/activity.md`` says what each figure means and how it is computed.
"""

from django_stripe_portal.activity.at_risk import (
    AT_RISK_REASONS,
    AtRiskCustomer,
    RiskSignal,
    customers_at_risk,
)
from django_stripe_portal.activity.figures import (
    NO_CHANGE,
    REPORT_VERSION,
    ActivityRange,
    ActivityReport,
    ActivitySummary,
    DayActivity,
    OutcomeCount,
    ReasonCount,
    RetentionCount,
    activity_report,
    activity_summary,
    cancellation_reasons,
    linked_changes,
    retention_offers,
    visit_outcomes,
    visits_in,
    visits_per_day,
)
from django_stripe_portal.activity.history import VisitHistory, customer_history
from django_stripe_portal.activity.weekly import WEEKLY_AFTER_DAYS, WeekActivity, visits_per_week

__all__ = [
    "AT_RISK_REASONS",
    "NO_CHANGE",
    "REPORT_VERSION",
    "WEEKLY_AFTER_DAYS",
    "ActivityRange",
    "ActivityReport",
    "ActivitySummary",
    "AtRiskCustomer",
    "DayActivity",
    "OutcomeCount",
    "ReasonCount",
    "RetentionCount",
    "RiskSignal",
    "VisitHistory",
    "WeekActivity",
    "activity_report",
    "activity_summary",
    "cancellation_reasons",
    "customer_history",
    "customers_at_risk",
    "linked_changes",
    "retention_offers",
    "visit_outcomes",
    "visits_in",
    "visits_per_day",
    "visits_per_week",
]
