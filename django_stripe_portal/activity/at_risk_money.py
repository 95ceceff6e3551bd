"""The run rate at stake for the customers at risk (``activity.at_risk``): the sum of
each one's live subscriptions' ``monthly_amount``, read in one query."""

from __future__ import annotations

from collections import defaultdict

from django.db import connections, router
from django.db.models import Q, Sum

from django_stripe_portal.id_lists import field_in
from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

#: Ids per query where they go as an IN list (SQLite allows 32,766 parameters);
#: PostgreSQL takes them all as one array parameter.
_IN_CHUNK = 20_000


def run_rates_of(customer_ids: list[str], scope: Q) -> dict[str, tuple[int | None, str]]:
    """``{customer: (run rate, currency)}`` of their live subscriptions (one query); a
    customer paying in several currencies is shown in the largest."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    using = router.db_for_read(StripeSubscription)
    size = len(customer_ids) if connections[using].vendor == "postgresql" else _IN_CHUNK
    for first in range(0, len(customer_ids), max(1, size)):
        chunk = customer_ids[first : first + size]
        rows = (
            StripeSubscription.objects.filter(scope, field_in("customer_id", chunk, using=using))
            .exclude(status__in=ENDED_STATUSES)
            .exclude(monthly_amount__isnull=True)
            .values_list("customer_id", "currency")
            .annotate(amount=Sum("monthly_amount"))
            .order_by()
        )
        for customer_id, currency, amount in rows:
            totals[customer_id][currency] = int(amount)
    return {
        customer: max(((amount, currency) for currency, amount in by.items()))
        for customer, by in totals.items()
    }
