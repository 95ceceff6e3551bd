"""Which stored rows are one customer's: a ``cus_…``, or an Accounts v2 customer.

An Accounts v2 customer is an ``acct_…`` standing for the customer (``customer_account``
in Stripe's requests and objects). Subscriptions and portal sessions keep it in their
``customer_account`` column beside ``customer_id`` (Stripe's ``customer``, where it sent
one; the ``acct_…`` otherwise), so either id finds them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connections, router
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from django_stripe_portal.models import PortalSession, StripeCustomer, StripeSubscription

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


def linked_customer_ids(user_id: Any, account: str, *, with_sessions: bool = False) -> RawSQL:
    """The customers ``user_id`` is linked to on ``account``, as one subquery for
    ``customer_id__in=``: the linked ids, and for an Accounts v2 link (an ``acct_…``) the
    ``customer_id`` Stripe named beside it on the account's subscriptions (and portal
    sessions, ``with_sessions``: where Stripe names only a ``customer``, as entitlement
    summaries do).

    A union, not an ``OR`` of ``IN`` conditions: PostgreSQL joins an ``IN`` through the
    indexes, where under an ``OR`` it reads every row of the filtered table (the partial
    ``customer_account`` indexes serve the inner parts). Written as SQL, compiled once per
    database: an access check runs on every page view.
    """
    sql = _linked_ids_sql(router.db_for_read(StripeSubscription), with_sessions)
    beside = [user_id, account, account] * (2 if with_sessions else 1)
    return RawSQL(sql, (user_id, account, *beside))  # noqa: S611  (quoted names, bound params)


@cache
def _linked_ids_sql(using: str, with_sessions: bool) -> str:
    quote = connections[using].ops.quote_name
    links = quote(StripeCustomer._meta.db_table)
    customer_id, customer_account = quote("customer_id"), quote("customer_account")
    user_id, account = quote("user_id"), quote("account")
    # Only the models' own table and column names are put in the text, quoted.
    parts = [f"SELECT {customer_id} FROM {links} WHERE {user_id} = %s AND {account} = %s"]  # noqa: S608
    for model in (StripeSubscription, PortalSession) if with_sessions else (StripeSubscription,):
        rows = quote(model._meta.db_table)
        parts.append(
            f"SELECT r.{customer_id} FROM {rows} r JOIN {links} l "  # noqa: S608
            f"ON r.{customer_account} = l.{customer_id} "
            f"WHERE l.{user_id} = %s AND l.{account} = %s AND r.{account} = %s "
            f"AND r.{customer_account} <> ''"
        )
    return " UNION ALL ".join(parts)


def customers_beside_account(account: str, customer_account: str) -> QuerySet[Any, str]:
    """The ``customer_id`` Stripe named beside the Accounts v2 customer
    ``customer_account`` on ``account``'s subscriptions and portal sessions (one subquery)."""
    beside = [
        model.objects.filter(account=account, customer_account=customer_account).values_list(
            "customer_id", flat=True
        )
        for model in (StripeSubscription, PortalSession)
    ]
    return beside[0].union(beside[1], all=True)
