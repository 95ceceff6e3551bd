"""Which stored rows are one customer's: a ``cus_…``, or an Accounts v2 customer.

An Accounts v2 customer is an ``acct_…`` standing for the customer (``customer_account``
in Stripe's requests and objects). Subscriptions and portal sessions keep it in their
``customer_account`` column beside ``customer_id`` (Stripe's ``customer``, where it sent
one; the ``acct_…`` otherwise), so either id finds them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from django_stripe_portal.models import PortalSession, StripeSubscription

ACCOUNT_PREFIX = "acct_"


def is_customer_account(customer_id: str) -> bool:
    """Whether ``customer_id`` is an Accounts v2 customer (an ``acct_…``)."""
    return customer_id.startswith(ACCOUNT_PREFIX)


def customer_q(customer_id: str) -> Q:
    """A filter for the rows (``StripeSubscription``, ``PortalSession``) of ``customer_id``."""
    if is_customer_account(customer_id):
        return Q(customer_account=customer_id) | Q(customer_id=customer_id)
    return Q(customer_id=customer_id)


def belongs_to(customer_id: str, customer_account: str, asked: str) -> bool:
    """Whether a row with these columns is the customer ``asked`` (either kind of id)."""
    return asked == customer_id or (bool(customer_account) and asked == customer_account)


def customers_named_beside(account: str, customer_accounts: Any) -> list[QuerySet[Any, str]]:
    """The ``customer_id`` Stripe named beside each of ``customer_accounts`` (ids or a
    subquery of them) on ``account``'s subscriptions and portal sessions, as subqueries:
    how an Accounts v2 customer is found where Stripe names only a ``customer`` (the
    entitlement summaries)."""
    named = Q(account=account, customer_account__in=customer_accounts)
    return [
        model.objects.filter(named).values_list("customer_id", flat=True)
        for model in (StripeSubscription, PortalSession)
    ]
