"""The run rate at stake for the customers at risk (``activity.at_risk``): the sum of
each one's live subscriptions' ``monthly_amount``, and who among them left, read in one
query."""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from django.db import connections, router
from django.db.models import Count, Q, Sum

from django_stripe_portal.activity.raw_rows import raw_rows
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


def run_rates_of(customer_ids: list[str], scope: Q) -> AtStake:
    """The run rates at stake and who left, in one query (one per 20,000 ids but on
    PostgreSQL), read from the covering index ``stripe_portal_sub_cust`` there."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    known: set[str] = set()
    live_customers: set[str] = set()
    live = ~Q(status__in=ENDED_STATUSES)
    using = router.db_for_read(StripeSubscription)
    size = len(customer_ids) if connections[using].vendor == "postgresql" else _IN_CHUNK
    for first in range(0, len(customer_ids), max(1, size)):
        chunk = customer_ids[first : first + size]
        rows = raw_rows(
            StripeSubscription.objects.using(using)
            .filter(field_in("customer_id", chunk, using=using))
            .values_list("customer_id", "currency")
            .annotate(
                amount=Sum("monthly_amount", filter=scope & live),
                # status is in the index; counting pk would read the table.
                live=Count("status", filter=live),
            )
            .order_by()
        )
        for customer_id, currency, amount, live_count in rows:
            known.add(customer_id)
            if live_count:
                live_customers.add(customer_id)
            if amount is not None:
                totals[customer_id][currency] = int(amount)
    run_rates = {
        customer: max(((amount, currency) for currency, amount in by.items()))
        for customer, by in totals.items()
    }
    return AtStake(run_rates, known - live_customers)
