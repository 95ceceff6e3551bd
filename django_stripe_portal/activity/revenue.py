"""What the portal is worth, per currency: the run rate, and what customers did to it in
portal visits (``docs/activity.md``, "Money"). Integer minor units; currencies are never
added together.

Every figure is a sum of columns written at ingest (``StripeSubscription.monthly_amount``;
``WebhookEvent.run_rate_before``/``run_rate_after``/``discount_cost``/
``cancel_reason``): no payload is read, so pruned payloads change nothing.

* ``mrr``: the live subscriptions' run rate now, less the run-rate changes of the events
  after ``end`` (the rows keep no history; the events do).
* Movements, from the changes linked to the range's visits (``activity.linked_changes``):
  ``canceled`` (the run rate the cancellation stops, immediate or scheduled, by reason),
  ``contraction``/``expansion`` (each plan or quantity change's run-rate change),
  ``reactivated`` (the run rate a cancellation undone keeps), ``paused`` (the run rate a
  pause stops), ``saved`` (the run rate an accepted retention offer keeps) and
  ``discount_cost`` (what those coupons give away over their duration).
* ``at_risk``: the run rate of ``customers_at_risk`` at ``end``.
* ``all_canceled``/``portal_canceled``: every cancellation of the range, through the portal or
  not (by the events' own time), for the portal's share.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import F, Q, Sum
from django.utils import timezone

from django_stripe_portal.activity.at_risk import at_risk_run_rate
from django_stripe_portal.activity.figures import ActivityRange
from django_stripe_portal.activity.range_money import RangeMoney, range_money
from django_stripe_portal.conf import get_settings
from django_stripe_portal.configurations.feedback_options import feedback_option_descriptions
from django_stripe_portal.events import SUBSCRIPTION_EVENTS, ChangeKind
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

#: Version of ``RevenueReport.as_dict``'s layout.
REVENUE_REPORT_VERSION = 1
_CANCELLATIONS = (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)
_PLAN_CHANGES = (ChangeKind.PLAN_CHANGED, ChangeKind.QUANTITY_CHANGED)


@dataclass
class ReasonAmount:
    """Cancellations with one reason (Stripe's ``feedback`` or a custom option's id; ``""``:
    none given) and the run rate they stop."""

    reason: str
    cancellations: int = 0
    monthly_amount: int = 0
    #: A custom option's ``description`` from the synced configurations (None: unknown).
    description: str | None = None


@dataclass
class CurrencyRevenue:
    currency: str
    mrr: int = 0
    canceled: int = 0
    canceled_by_reason: list[ReasonAmount] = field(default_factory=list)
    contraction: int = 0
    expansion: int = 0
    reactivated: int = 0
    paused: int = 0
    saved: int = 0
    discount_cost: int = 0
    at_risk: int = 0
    all_canceled: int = 0
    portal_canceled: int = 0
    all_cancellations: int = 0
    portal_cancellations: int = 0

    @property
    def portal_share(self) -> float | None:
        """The portal's part of the run rate canceled in the range (None: none canceled)."""
        return self.portal_canceled / self.all_canceled if self.all_canceled else None

    @property
    def net(self) -> int:
        """What the portal's visits did to the run rate (kept by offers not counted)."""
        return self.expansion + self.reactivated - self.canceled - self.contraction - self.paused


@dataclass(frozen=True)
class RevenueReport:
    range: ActivityRange
    currencies: list[CurrencyRevenue]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": REVENUE_REPORT_VERSION,
            "range": {
                "start": self.range.start.isoformat(),
                "end": self.range.end.isoformat(),
                "time_zone": str(timezone.get_default_timezone()),
                "configuration": self.range.configuration,
                "account": self.range.account,
            },
            "currencies": [
                {
                    **asdict(entry),
                    "portal_share": None
                    if entry.portal_share is None
                    else round(entry.portal_share, 4),
                }
                for entry in self.currencies
            ],
        }


def _as_day(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, timezone.get_default_timezone()).date()
    return value


def revenue_report(
    start: dt.date,
    end: dt.date,
    *,
    account: str | None = None,
    configuration: str | None = None,
) -> RevenueReport:
    """The money of days ``start`` to ``end`` (both included, ``TIME_ZONE``; datetimes are
    taken as their day), one entry per currency, largest run rate first."""
    activity_range = ActivityRange(
        _as_day(start), _as_day(end), configuration=configuration, account=account
    )
    return revenue_of(activity_range, range_money(activity_range))


def revenue_of(activity_range: ActivityRange, money: RangeMoney) -> RevenueReport:
    """``revenue_report`` of a range whose money rows are read (``range_money``)."""
    account = activity_range.account
    _first, after = activity_range.bounds()
    entries: dict[str, CurrencyRevenue] = {}

    def entry(currency: str) -> CurrencyRevenue:
        return entries.setdefault(currency, CurrencyRevenue(currency))

    for currency, amount in _mrr_at(after, account).items():
        entry(currency).mrr = amount
    reasons: dict[str, dict[str, ReasonAmount]] = defaultdict(dict)
    for row in money.movements:
        _add_movement(entry(row["currency"]), reasons[row["currency"]], row)
    options = [r for by in reasons.values() for r in by.values() if r.reason.startswith("bfo_")]
    if options:
        described = feedback_option_descriptions()
        for reason in options:
            reason.description = described.get(reason.reason)
    for currency, by_reason in reasons.items():
        entry(currency).canceled_by_reason = sorted(
            by_reason.values(), key=lambda r: (-r.monthly_amount, -r.cancellations, r.reason)
        )
    for row in money.cancellations:
        target = entry(row["currency"])
        target.all_canceled += row["amount"] or 0
        target.portal_canceled += row["portal"] or 0
        target.all_cancellations += row["n"]
        target.portal_cancellations += row["portal_n"]
    now = timezone.now()
    for currency, amount in at_risk_run_rate(account=account, now=min(after, now)).items():
        entry(currency).at_risk += amount
    entries.pop("", None)  # figures of subscriptions whose currency is unknown
    return RevenueReport(
        activity_range, sorted(entries.values(), key=lambda e: (-e.mrr, e.currency))
    )


def _scope(account: str | None) -> Q:
    return Q() if account is None else Q(account=account)


def _mrr_at(after: dt.datetime, account: str | None) -> dict[str, int]:
    """Run rate of the live subscriptions now, less the changes events made since."""
    live = (
        StripeSubscription.objects.filter(_scope(account), livemode=get_settings().livemode)
        .exclude(status__in=ENDED_STATUSES)
        .exclude(monthly_amount__isnull=True)
        .values("currency")
        .annotate(amount=Sum("monthly_amount"))
        .order_by()
    )
    totals = {row["currency"]: int(row["amount"]) for row in live}
    if after < timezone.now():
        later = (
            WebhookEvent.objects.filter(
                _scope(account),
                created_at__gte=after,
                type__in=SUBSCRIPTION_EVENTS,
                run_rate_before__isnull=False,
                run_rate_after__isnull=False,
                livemode=get_settings().livemode,
            )
            .values("currency")
            .annotate(change=Sum(F("run_rate_after") - F("run_rate_before")))
            .order_by()
        )
        for row in later:
            totals[row["currency"]] = totals.get(row["currency"], 0) - int(row["change"] or 0)
    return totals


def _add_movement(
    target: CurrencyRevenue, reasons: dict[str, ReasonAmount], row: dict[str, Any]
) -> None:
    kind, before, after = row["change_kind"], row["before"] or 0, row["after"] or 0
    if kind in _CANCELLATIONS:
        target.canceled += before
        reason = reasons.setdefault(row["cancel_reason"], ReasonAmount(row["cancel_reason"]))
        reason.cancellations += row["n"]
        reason.monthly_amount += before
    elif kind in _PLAN_CHANGES:
        target.expansion += row["up"] or 0
        target.contraction += row["down"] or 0
    elif kind == ChangeKind.REACTIVATED:
        target.reactivated += after
    elif kind == ChangeKind.PAUSED:
        target.paused += before
    elif kind == ChangeKind.RETENTION_ACCEPTED:
        target.saved += after
        target.discount_cost += row["cost"] or 0
