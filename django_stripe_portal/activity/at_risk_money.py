"""The run rate at stake for the customers at risk (``activity.at_risk``): the sum of
each one's live subscriptions' ``monthly_amount``, and who among them left, read in one
query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db import connections, router
from django.db.models import Count, Q, QuerySet, Sum

from django_stripe_portal.activity.raw_rows import raw_rows, rows_around
from django_stripe_portal.id_lists import field_in
from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

#: Ids per query where they go as an IN list (SQLite allows 32,766 parameters);
#: PostgreSQL takes them all as one array parameter.
_IN_CHUNK = 20_000


class AtStake(NamedTuple):
    #: ``{customer: (run rate, currency)}`` of their live subscriptions in the scope; a
    #: customer paying in several currencies is shown in the largest.
    run_rates: dict[str, tuple[int, str]]
    #: Customers whose every known subscription (in any mode or account) has ended.
    left: set[str]


def run_rates_of(customer_ids: Iterable[str], scope: Q, joined: QuerySet[Any]) -> AtStake:
    """The run rates at stake and who left, for the customers of ``joined`` (a query of
    ``customer_id``, which the database joins itself: at 1M visits, 25,000 customers
    with a subscription at risk, read in one merge join of two indexes instead of one
    probe each) and the others of ``customer_ids`` (sent as a list). Read from the
    covering index ``stripe_portal_sub_cust`` on PostgreSQL."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    known: set[str] = set()
    live_customers: set[str] = set()

    def read(query: QuerySet[StripeSubscription]) -> None:
        for customer_id, currency, amount, live_count in raw_rows(_sums(query, scope)):
            known.add(customer_id)
            if live_count:
                live_customers.add(customer_id)
            if amount is not None:
                totals[customer_id][currency] = int(amount)

    read(_subscriptions().filter(customer_id__in=joined))
    # Each of them has a row there: the others are the ones not read yet.
    for query in _of_customers(
        [customer_id for customer_id in customer_ids if customer_id not in known]
    ):
        read(query)
    run_rates = {
        customer: max(((amount, currency) for currency, amount in by.items()))
        for customer, by in totals.items()
    }
    return AtStake(run_rates, known - live_customers)


#: Each customer's run rate in its largest currency (``run_rates_of``'s rule: the larger
#: amount, then the later currency code), summed by currency, around ``_sums``' query.
_LARGEST_CURRENCY_SUMS = (
    "SELECT r.currency, SUM(r.amount) FROM ("
    "SELECT s.currency, s.amount, ROW_NUMBER() OVER ("
    "PARTITION BY s.customer_id ORDER BY s.amount DESC, s.currency DESC) AS n "
    "FROM ({inner}) s WHERE s.amount IS NOT NULL) r WHERE r.n = 1 GROUP BY r.currency"
)


def run_rate_totals(customer_ids: Iterable[str], scope: Q, joined: QuerySet[Any]) -> dict[str, int]:
    """``{currency: sum}`` of ``run_rates_of``'s run rates (zeros left out), summed in
    the database: the activity page's at-risk card reads a few rows, not 30,000."""
    in_joined = {customer_id for (customer_id,) in raw_rows(joined.values_list("customer_id"))}
    others = [customer_id for customer_id in customer_ids if customer_id not in in_joined]
    totals: dict[str, int] = defaultdict(int)
    for query in [_subscriptions().filter(customer_id__in=joined), *_of_customers(others)]:
        for currency, amount in rows_around(_sums(query, scope), _LARGEST_CURRENCY_SUMS):
            if amount:
                totals[currency] += int(amount)
    return dict(totals)


def _subscriptions() -> QuerySet[StripeSubscription]:
    return StripeSubscription.objects.using(router.db_for_read(StripeSubscription))


def _of_customers(customer_ids: list[str]) -> list[QuerySet[StripeSubscription]]:
    """The subscriptions of ``customer_ids``: one query, or one per 20,000 but on
    PostgreSQL."""
    using = router.db_for_read(StripeSubscription)
    size = len(customer_ids) if connections[using].vendor == "postgresql" else _IN_CHUNK
    return [
        _subscriptions().filter(
            field_in("customer_id", customer_ids[first : first + size], using=using)
        )
        for first in range(0, len(customer_ids), max(1, size))
    ]


def _sums(subscriptions: QuerySet[StripeSubscription], scope: Q) -> QuerySet[Any, Any]:
    """``(customer, currency, run rate in the scope, live subscriptions)`` rows."""
    live = ~Q(status__in=ENDED_STATUSES)
    return (
        subscriptions.values_list("customer_id", "currency")
        .annotate(
            amount=Sum("monthly_amount", filter=scope & live),
            # status is in the index; counting pk would read the table.
            live=Count("status", filter=live),
        )
        .order_by()
    )
