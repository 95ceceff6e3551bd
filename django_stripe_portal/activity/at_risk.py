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
import heapq
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db.models import Case, Q, QuerySet, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.activity.at_risk_money import run_rate_totals, run_rates_of
from django_stripe_portal.activity.at_risk_visits import (
    Visit,
    VisitWindow,
    abandoned_cancel_flows,
    changed_visits,
    stuck_customers,
)
from django_stripe_portal.activity.collector import collector_paused
from django_stripe_portal.activity.jit import without_jit
from django_stripe_portal.activity.raw_rows import raw_rows
from django_stripe_portal.activity.utc_text import UtcText, parse_time
from django_stripe_portal.conf import get_settings
from django_stripe_portal.customer_labels import customer_labels
from django_stripe_portal.models import StripeSubscription
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


class AtRiskTop(NamedTuple):
    """``largest_at_risk``'s answer."""

    #: The customers with the largest run rates at stake, as ``customers_at_risk`` orders them.
    customers: list[AtRiskCustomer]
    #: How many customers are at risk in all.
    total: int


def customers_at_risk(
    days: int = 30,
    *,
    account: str | None = None,
    now: dt.datetime | None = None,
    named: bool = True,
) -> list[AtRiskCustomer]:
    """Every customer at risk in the site's mode, the largest run rate at stake first (then
    the newest signal); eight queries whatever the number of rows: four for the signals,
    two for the run rates, two for the labels.
    ``account``: only that connected account's (``""``: the platform's; None: all).
    ``named=False`` leaves ``customer`` empty (two queries less, for sums)."""
    return _at_risk(days, None, account, now, named).customers


def largest_at_risk(
    days: int = 30,
    limit: int = 100,
    *,
    account: str | None = None,
    now: dt.datetime | None = None,
    named: bool = True,
) -> AtRiskTop:
    """The first ``limit`` rows of ``customers_at_risk``, and how many it has: the rows of
    the others are not built (a page of 100 at 30,000 customers at risk)."""
    return _at_risk(days, limit, account, now, named)


def _at_risk(
    days: int, limit: int | None, account: str | None, now: dt.datetime | None, named: bool
) -> AtRiskTop:
    visits, subscription_scope = _window(days, account, now)
    with without_jit(), collector_paused():
        scheduled: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in _subscription_rows(subscription_scope):
            scheduled[row[2]].append(row)
        visit_signals: dict[str, list[RiskSignal]] = defaultdict(list)
        for reason, customer_id, found in _visit_reasons(visits):
            visit_signals[customer_id].append(_visit_signal(reason, found))
        money, left = run_rates_of(
            [customer_id for customer_id in visit_signals if customer_id not in scheduled],
            subscription_scope,
            _customers_of(_at_risk_subscriptions(subscription_scope)),
        )
        # Only visit signals name those who left (a subscription signal is of a live one).
        customers = [
            *scheduled,
            *(c for c in visit_signals if c not in scheduled and c not in left),
        ]

        def signals_of(customer_id: str) -> list[RiskSignal]:
            return _signals_of(scheduled.get(customer_id, ()), visit_signals.get(customer_id, ()))

        if limit is None:  # every row is built: the newest signal is each one's first
            built = {customer_id: signals_of(customer_id) for customer_id in customers}
            latest = {customer_id: found[0].at for customer_id, found in built.items()}
        else:  # only the rows answered are built; the others' newest signal is read as text
            built = {}
            latest = {
                customer_id: _latest_signal_at(
                    scheduled.get(customer_id, ()), visit_signals.get(customer_id, ())
                )
                for customer_id in customers
            }

        def order(customer_id: str) -> tuple[int, dt.datetime, str]:
            return money.get(customer_id, (0,))[0], latest[customer_id], customer_id

        if limit is None:
            chosen = sorted(customers, key=order, reverse=True)
        else:
            chosen = heapq.nlargest(limit, customers, key=order)
        labels = customer_labels(chosen, account=account) if named and chosen else {}
        rows = [
            AtRiskCustomer(
                customer_id,
                built[customer_id] if built else signals_of(customer_id),
                labels.get(customer_id, ""),
                *money.get(customer_id, (None, "")),
            )
            for customer_id in chosen
        ]
        return AtRiskTop(rows, len(customers))


def at_risk_run_rate(
    days: int = 30, *, account: str | None = None, now: dt.datetime | None = None
) -> dict[str, int]:
    """``{currency: run rate}`` that the ``monthly_amount`` of ``customers_at_risk``'s rows
    add up to, without building the rows (``revenue_report``): the subscriptions' signals
    stay in the database, joined to the run rates, and no label is looked up."""
    visits, subscription_scope = _window(days, account, now)
    with without_jit():
        visitors = {customer_id for _reason, customer_id, _visits in _visit_reasons(visits)}
        at_risk = _customers_of(_at_risk_subscriptions(subscription_scope))
        return run_rate_totals(visitors, subscription_scope, at_risk)


def _window(days: int, account: str | None, now: dt.datetime | None) -> tuple[VisitWindow, Q]:
    """The visits the visit reasons look at, and the subscriptions' scope."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}.")
    now = now or timezone.now()
    # Visits are read through covering indexes that hold no mode: a site's visits are of
    # its mode (the button opens sessions with the site's key); subscriptions, which can
    # outlive a change of keys, are filtered by it.
    scope = Q() if account is None else Q(account=account)
    subscription_scope = scope & Q(livemode=get_settings().livemode)
    # Visits after ``now`` are not yet (a report of a past range asks as of its end); a
    # visit still within its window may yet change something: not abandoned yet.
    visits = VisitWindow(
        scope,
        since=now - dt.timedelta(days=days),
        until=now,
        ended_before=now - dt.timedelta(seconds=get_settings().VISIT_WINDOW),
    )
    return visits, subscription_scope


def _visit_reasons(window: VisitWindow) -> Iterator[tuple[str, str, list[Visit]]]:
    """``(reason, customer, the visits it rests on)`` of each visit reason."""
    changed = changed_visits(window)
    for customer_id, visits in abandoned_cancel_flows(window, changed):
        yield CANCEL_FLOW_ABANDONED, customer_id, visits
    for customer_id, visits in stuck_customers(window, changed):
        yield STUCK, customer_id, visits


def _at_risk_subscriptions(scope: Q) -> QuerySet[StripeSubscription]:
    # The condition of the partial index stripe_portal_sub_at_risk, in the same form.
    at_risk = (
        Q(cancel_at_period_end=True)
        | Q(cancel_at__isnull=False)
        | Q(status__in=PAYMENT_TROUBLE_STATUSES)
    ) & ~Q(status__in=ENDED_STATUSES)
    return StripeSubscription.objects.filter(at_risk, scope)


def _customers_of(subscriptions: QuerySet[StripeSubscription]) -> QuerySet[Any, Any]:
    """Their ``customer_id``, as a subquery (the database joins it; see ``run_rates_of``)."""
    return subscriptions.order_by().values("customer_id")


def _subscription_rows(scope: Q) -> list[tuple[Any, ...]]:
    """``pk``, ``stripe_id``, ``customer_id``, ``status`` and the times its signals rest on
    (``scheduled_at``, ``ends_at``, ``trouble_since``), as ISO text in UTC (see utc_text):
    at scale (tens of thousands of rows) turning timestamps into datetimes is most of the
    work, so only the rows a caller shows are turned into signals (``_signals_of``)."""
    scheduled = Q(cancel_at_period_end=True) | Q(cancel_at__isnull=False)
    return raw_rows(
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


def _latest_signal_at(
    rows: Sequence[tuple[Any, ...]], visit_signals: Sequence[RiskSignal]
) -> dt.datetime:
    """When the newest of a customer's signals was seen. The rows' times are compared as
    text (ISO in UTC sorts as time does) and only the newest is parsed."""
    texts = [text for row in rows for text in (row[4], row[6]) if text is not None]
    times = [signal.at for signal in visit_signals]
    if texts:
        newest = parse_time(max(texts))
        assert newest is not None
        times.append(newest)
    return max(times)


def _signals_of(
    rows: Sequence[tuple[Any, ...]], visit_signals: Sequence[RiskSignal]
) -> list[RiskSignal]:
    """A customer's signals, newest first: its subscriptions' (``_subscription_rows``)
    and its visits'."""
    found: list[RiskSignal] = []
    for pk, stripe_id, _customer_id, status, scheduled_text, ends_text, trouble_text in rows:
        scheduled_at = parse_time(scheduled_text)
        if scheduled_at is not None:
            found.append(
                RiskSignal(
                    CANCEL_SCHEDULED,
                    # Stripe sets canceled_at to the time the cancellation was requested.
                    at=scheduled_at,
                    subscription_id=stripe_id,
                    subscription_pk=pk,
                    cancels_at=parse_time(ends_text),
                )
            )
        trouble_since = parse_time(trouble_text)
        if trouble_since is not None:
            found.append(RiskSignal(PAYMENT_TROUBLE, trouble_since, stripe_id, pk, status))
    found.extend(visit_signals)
    return found if len(found) == 1 else sorted(found, key=lambda s: s.at, reverse=True)


def _visit_signal(reason: str, visits: list[Visit]) -> RiskSignal:
    """The signal of visits (oldest first) a visit reason rests on, seen at the newest."""
    return RiskSignal(
        reason,
        visits[-1]["created_at"],
        visits=tuple(visit["stripe_id"] for visit in visits),
        visit_pks=tuple(visit["pk"] for visit in visits),
        visit_times=tuple(visit["created_at"] for visit in visits),
    )
