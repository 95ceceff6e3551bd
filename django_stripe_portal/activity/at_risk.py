"""Who may be about to leave, and why: churn signals the app already has the data for.

Four reasons (``docs/activity.md`` defines them):

* ``cancel_scheduled``: a live subscription will cancel (``cancel_at_period_end`` or
  ``cancel_at``): the window to win the customer back. Rests on the scheduled date.
* ``cancel_flow_abandoned``: the customer's latest ``subscription_cancel`` visit of the
  last ``days`` days ended (came back, or ``VISIT_WINDOW`` passed) with no change.
  Rests on that visit.
* ``payment_trouble``: a subscription is ``past_due``, ``unpaid`` or ``incomplete``.
  Rests on the status.
* ``stuck``: 3 or more visits within 7 days, none of which changed anything, and no
  change in a visit since. Rests on those visits.

State reasons hold as long as the subscription's state does; visit reasons look back
``days`` days. A customer whose every known subscription has ended is not at risk
any more (they left). The signals take four queries whatever the number of rows; no
Stripe call.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Case,
    Count,
    Q,
    QuerySet,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.activity.at_risk_money import run_rates_of
from django_stripe_portal.activity.collector import collector_paused
from django_stripe_portal.activity.jit import without_jit
from django_stripe_portal.activity.raw_rows import raw_rows
from django_stripe_portal.activity.utc_text import UtcText, parse_time
from django_stripe_portal.conf import get_settings
from django_stripe_portal.customer_labels import customer_labels
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

CANCEL_SCHEDULED = "cancel_scheduled"
CANCEL_FLOW_ABANDONED = "cancel_flow_abandoned"
PAYMENT_TROUBLE = "payment_trouble"
STUCK = "stuck"
#: Every reason, with the words pages show for it.
AT_RISK_REASONS = {
    CANCEL_SCHEDULED: _("cancellation scheduled"),
    CANCEL_FLOW_ABANDONED: _("left the cancel flow"),
    PAYMENT_TROUBLE: _("payment trouble"),
    STUCK: _("keeps coming back without a change"),
}
PAYMENT_TROUBLE_STATUSES = ("past_due", "unpaid", "incomplete")
STUCK_VISITS = 3
STUCK_WITHIN = dt.timedelta(days=7)


@dataclass(slots=True)
class RiskSignal:
    """One reason a customer is at risk, and what it rests on. A row to read: slots and not
    frozen, since a frozen dataclass took 4 µs to build and the list builds 30,000."""

    reason: str
    #: When the signal was last seen: the cancellation request, the visit, the status's
    #: event; customers and signals are listed newest first by it.
    at: dt.datetime
    subscription_id: str = ""
    subscription_pk: int | None = None
    status: str = ""
    #: ``cancel_scheduled``: when the subscription will end.
    cancels_at: dt.datetime | None = None
    #: The visits (``bps_…``, oldest first) a visit reason rests on, and their row ids.
    visits: tuple[str, ...] = ()
    visit_pks: tuple[int, ...] = ()
    #: When each of those visits began, for pages (which show times, not ``bps_…``).
    visit_times: tuple[dt.datetime, ...] = ()

    @property
    def label(self) -> str:
        return str(AT_RISK_REASONS[self.reason])

    @property
    def visit_links(self) -> list[tuple[int, dt.datetime]]:
        """``(row id, when it began)`` of each visit, for links to the admin."""
        return list(zip(self.visit_pks, self.visit_times, strict=True))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"reason": self.reason, "at": self.at.isoformat()}
        if self.subscription_id:
            data["subscription"] = self.subscription_id
        if self.status:
            data["status"] = self.status
        if self.reason == CANCEL_SCHEDULED:
            data["cancels_at"] = self.cancels_at.isoformat() if self.cancels_at else None
        if self.visits:
            data["visits"] = list(self.visits)
        return data


@dataclass(slots=True)
class AtRiskCustomer:
    """One customer at risk (a row to read, like :class:`RiskSignal`)."""

    customer_id: str
    #: Newest first.
    signals: list[RiskSignal] = field(default_factory=list)
    #: How pages name the person (``CUSTOMER_LABEL``; the id where no user is linked).
    customer: str = ""
    #: The run rate at stake: the customer's live subscriptions' ``monthly_amount`` in
    #: their (largest) currency; None when no figure is known.
    monthly_amount: int | None = None
    currency: str = ""

    @property
    def reasons(self) -> list[str]:
        """The reasons, each once, in the order of ``AT_RISK_REASONS``."""
        present = {signal.reason for signal in self.signals}
        return [reason for reason in AT_RISK_REASONS if reason in present]

    @property
    def latest_signal_at(self) -> dt.datetime:
        return self.signals[0].at

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "customer": self.customer or self.customer_id,
            "monthly_amount": self.monthly_amount,
            "currency": self.currency,
            "reasons": self.reasons,
            "latest_signal_at": self.latest_signal_at.isoformat(),
            "signals": [signal.as_dict() for signal in self.signals],
        }


def customers_at_risk(
    days: int = 30,
    *,
    account: str | None = None,
    now: dt.datetime | None = None,
    named: bool = True,
) -> list[AtRiskCustomer]:
    """Every customer at risk in the site's mode, the largest run rate at stake first (then
    the newest signal); seven queries whatever the number of rows: four for the signals,
    one for the run rates, two for the labels.
    ``account``: only that connected account's (``""``: the platform's; None: all).
    ``named=False`` leaves ``customer`` empty (one query less, for sums)."""
    scope, subscription_scope, since, ended_before = _window(days, account, now)
    signals: dict[str, list[RiskSignal]] = defaultdict(list)
    with without_jit(), collector_paused():
        changed = _changed_visits(since)
        found_signals = [
            *_subscription_signals(subscription_scope),
            *_abandoned_cancel_flows(scope, since, ended_before, changed),
            *_stuck_customers(scope, since, ended_before, changed),
        ]
        for customer_id, signal in found_signals:
            signals[customer_id].append(signal)
        money, left = run_rates_of(list(signals), subscription_scope)
        for customer_id in left:
            # Only visit signals name them (a subscription signal is of a live one).
            del signals[customer_id]
        labels = customer_labels(signals, account=account) if named else {}
        return _rows(signals, labels, money)


def _rows(
    signals: dict[str, list[RiskSignal]],
    labels: dict[str, str],
    money: dict[str, tuple[int, str]],
) -> list[AtRiskCustomer]:
    """The customers, largest run rate at stake first, then the newest signal."""
    customers = [
        AtRiskCustomer(
            customer_id,
            found if len(found) == 1 else sorted(found, key=lambda s: s.at, reverse=True),
            labels.get(customer_id, ""),
            *money.get(customer_id, (None, "")),
        )
        for customer_id, found in signals.items()
    ]
    return sorted(
        customers,
        key=lambda c: (c.monthly_amount or 0, c.latest_signal_at, c.customer_id),
        reverse=True,
    )


def at_risk_run_rate(
    days: int = 30, *, account: str | None = None, now: dt.datetime | None = None
) -> dict[str, int]:
    """``{currency: run rate}`` that the ``monthly_amount`` of ``customers_at_risk``'s rows
    add up to, without building the rows (``revenue_report``): the subscriptions' signals
    are read as customer ids only, and no label is looked up."""
    scope, subscription_scope, since, ended_before = _window(days, account, now)
    with without_jit():
        customers = set(
            _at_risk_subscriptions(subscription_scope).values_list("customer_id", flat=True)
        )
        changed = _changed_visits(since)
        for customer_id, _signal in [
            *_abandoned_cancel_flows(scope, since, ended_before, changed),
            *_stuck_customers(scope, since, ended_before, changed),
        ]:
            customers.add(customer_id)
        money = run_rates_of(list(customers), subscription_scope).run_rates
    totals: dict[str, int] = defaultdict(int)
    for amount, currency in money.values():
        if amount:
            totals[currency] += amount
    return dict(totals)


def _window(
    days: int, account: str | None, now: dt.datetime | None
) -> tuple[Q, Q, dt.datetime, dt.datetime]:
    """The visits' scope, the subscriptions' scope, the first instant visit reasons look
    back to, and the instant before which a visit is over."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}.")
    now = now or timezone.now()
    # Visits are read through covering indexes that hold no mode: a site's visits are of
    # its mode (the button opens sessions with the site's key); subscriptions, which can
    # outlive a change of keys, are filtered by it.
    scope = Q() if account is None else Q(account=account)
    subscription_scope = scope & Q(livemode=get_settings().livemode)
    # A visit still within its window may yet change something: not abandoned yet.
    ended_before = now - dt.timedelta(seconds=get_settings().VISIT_WINDOW)
    return scope, subscription_scope, now - dt.timedelta(days=days), ended_before


def _at_risk_subscriptions(scope: Q) -> QuerySet[StripeSubscription]:
    # The condition of the partial index stripe_portal_sub_at_risk, in the same form.
    at_risk = (
        Q(cancel_at_period_end=True)
        | Q(cancel_at__isnull=False)
        | Q(status__in=PAYMENT_TROUBLE_STATUSES)
    ) & ~Q(status__in=ENDED_STATUSES)
    return StripeSubscription.objects.filter(at_risk, scope)


def _subscription_signals(scope: Q) -> Iterable[tuple[str, RiskSignal]]:
    scheduled = Q(cancel_at_period_end=True) | Q(cancel_at__isnull=False)
    # Only the times each row's signals need, read as text (see utc_text): at scale
    # (tens of thousands of rows) turning timestamps into datetimes is most of the work.
    rows = raw_rows(
        _at_risk_subscriptions(scope)
        .annotate(
            scheduled_at=UtcText(
                Case(When(scheduled, then=Coalesce("canceled_at", "event_created_at")))
            ),
            ends_at=UtcText(
                Case(When(scheduled, then=Coalesce("cancel_at", "current_period_end")))
            ),
            trouble_since=UtcText(
                Case(When(status__in=PAYMENT_TROUBLE_STATUSES, then="event_created_at"))
            ),
        )
        .values_list(
            "pk", "stripe_id", "customer_id", "status", "scheduled_at", "ends_at", "trouble_since"
        )
    )
    for pk, stripe_id, customer_id, status, scheduled_text, ends_text, trouble_text in rows:
        scheduled_at, trouble_since = parse_time(scheduled_text), parse_time(trouble_text)
        ends_at = parse_time(ends_text)
        if scheduled_at is not None:
            yield (
                customer_id,
                RiskSignal(
                    CANCEL_SCHEDULED,
                    # Stripe sets canceled_at to the time the cancellation was requested.
                    at=scheduled_at,
                    subscription_id=stripe_id,
                    subscription_pk=pk,
                    cancels_at=ends_at,
                ),
            )
        if trouble_since is not None:
            signal = RiskSignal(PAYMENT_TROUBLE, trouble_since, stripe_id, pk, status)
            yield customer_id, signal


def _changed_visits(since: dt.datetime) -> set[int]:
    """Row ids of the visits since ``since`` that a change is linked to.

    A change is never older than its visit (``webhooks.linking``), so the window's slice
    of the partial ``stripe_portal_evt_visit_change`` index holds them all: one
    index-only read and a set, instead of probing the events once per visit (which read
    the table to check ``change_kind``)."""
    linked = WebhookEvent.objects.filter(created_at__gte=since, portal_session__isnull=False)
    return {pk for (pk,) in raw_rows(linked.exclude(change_kind="").values_list("portal_session"))}


def _visits_read(
    visits: QuerySet[PortalSession], ended_before: dt.datetime, changed: set[int]
) -> Iterable[dict[str, Any]]:
    """``pk``, ``stripe_id``, ``customer_id``, ``created_at``, ``changed`` (a change is
    linked to the visit: its row id is in ``changed``) of the visits that are over or
    changed something; one that is neither may still change something (it is within
    ``VISIT_WINDOW``)."""
    rows = raw_rows(
        visits.annotate(
            returned=Q(returned_at__isnull=False),
            over=Q(created_at__lte=ended_before),
            created_text=UtcText("created_at"),
        ).values_list("pk", "stripe_id", "customer_id", "created_text", "returned", "over")
    )
    for pk, stripe_id, customer_id, created_text, returned, over in rows:
        visit_changed = pk in changed
        if visit_changed or returned or over:
            yield {
                "pk": pk,
                "stripe_id": stripe_id,
                "customer_id": customer_id,
                "created_at": parse_time(created_text),
                "changed": visit_changed,
            }


def _abandoned_cancel_flows(
    scope: Q, since: dt.datetime, ended_before: dt.datetime, changed: set[int]
) -> Iterable[tuple[str, RiskSignal]]:
    visits = PortalSession.objects.filter(
        scope, created_at__gte=since, flow_type="subscription_cancel"
    )
    latest: dict[str, dict[str, Any]] = {}
    for visit in _visits_read(visits, ended_before, changed):
        known = latest.get(visit["customer_id"])
        if known is None or (visit["created_at"], visit["pk"]) > (known["created_at"], known["pk"]):
            latest[visit["customer_id"]] = visit
    for customer_id, visit in latest.items():
        if not visit["changed"]:
            yield (
                customer_id,
                RiskSignal(
                    CANCEL_FLOW_ABANDONED,
                    visit["created_at"],
                    visits=(visit["stripe_id"],),
                    visit_pks=(visit["pk"],),
                    visit_times=(visit["created_at"],),
                ),
            )


def _stuck_customers(
    scope: Q, since: dt.datetime, ended_before: dt.datetime, changed: set[int]
) -> Iterable[tuple[str, RiskSignal]]:
    in_range = PortalSession.objects.filter(scope, created_at__gte=since)
    frequent = (
        in_range.order_by()
        .values("customer_id")
        .annotate(visits=Count("pk"))
        .filter(visits__gte=STUCK_VISITS)
        .values("customer_id")
    )
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for visit in _visits_read(in_range.filter(customer_id__in=frequent), ended_before, changed):
        by_customer[visit["customer_id"]].append(visit)
    for customer_id, visits in by_customer.items():
        run = _stuck_run(sorted(visits, key=lambda v: (v["created_at"], v["pk"])))
        if run:
            yield (
                customer_id,
                RiskSignal(
                    STUCK,
                    run[-1]["created_at"],
                    visits=tuple(v["stripe_id"] for v in run),
                    visit_pks=tuple(v["pk"] for v in run),
                    visit_times=tuple(v["created_at"] for v in run),
                ),
            )


def _stuck_run(visits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unchanged visits of the latest 7 days holding 3 of them, after the last visit
    that changed something ([] when there is no such run)."""
    since_change: list[dict[str, Any]] = []
    for visit in visits:
        since_change = [] if visit["changed"] else [*since_change, visit]
    for last in range(len(since_change) - 1, STUCK_VISITS - 2, -1):
        end = since_change[last]["created_at"]
        window = [v for v in since_change[: last + 1] if end - v["created_at"] <= STUCK_WITHIN]
        if len(window) >= STUCK_VISITS:
            return window
    return []
