"""What customers did in the portal, aggregated in the database: visits and outcomes
(``figures``, ``weekly``), why customers leave and who was kept (``cancellations``),
all of one range (``report``), one customer's visits (``history``) and who may be
about to leave (``at_risk``) and what it is worth (``revenue``).

The public names of ``django_stripe_portal.activity`` are importable from here;
``docs/activity.md`` says what each figure means and how it is computed.
"""

from django_stripe_portal.activity.at_risk import (
    AT_RISK_REASONS,
    AtRiskCustomer,
    AtRiskTop,
    RiskSignal,
    customers_at_risk,
    largest_at_risk,
)
from django_stripe_portal.activity.cancellations import (
    ReasonCount,
    RetentionCount,
    cancellation_reasons,
    retention_offers,
)
from django_stripe_portal.activity.figures import (
    NO_CHANGE,
    ActivityRange,
    ActivitySummary,
    DayActivity,
    OutcomeCount,
    activity_summary,
    linked_changes,
    visit_outcomes,
    visits_in,
    visits_per_day,
)
from django_stripe_portal.activity.history import VisitHistory, customer_history
from django_stripe_portal.activity.report import REPORT_VERSION, ActivityReport, activity_report
from django_stripe_portal.activity.revenue import (
    REVENUE_REPORT_VERSION,
    CurrencyRevenue,
    ReasonAmount,
    RevenueReport,
    revenue_report,
)
from django_stripe_portal.activity.weekly import WEEKLY_AFTER_DAYS, WeekActivity, visits_per_week

__all__ = [
    "AT_RISK_REASONS",
    "NO_CHANGE",
    "REPORT_VERSION",
    "REVENUE_REPORT_VERSION",
    "WEEKLY_AFTER_DAYS",
    "ActivityRange",
    "ActivityReport",
    "ActivitySummary",
    "AtRiskCustomer",
    "AtRiskTop",
    "CurrencyRevenue",
    "DayActivity",
    "OutcomeCount",
    "ReasonAmount",
    "ReasonCount",
    "RetentionCount",
    "RevenueReport",
    "RiskSignal",
    "VisitHistory",
    "WeekActivity",
    "activity_report",
    "activity_summary",
    "cancellation_reasons",
    "customer_history",
    "customers_at_risk",
    "largest_at_risk",
    "linked_changes",
    "retention_offers",
    "revenue_report",
    "visit_outcomes",
    "visits_in",
    "visits_per_day",
    "visits_per_week",
]
