"""Subscription state, never moved backwards by a late event, nor to another account.

Stripe does not promise delivery order, so every write is conditional on the
event being at least as new as the one that last wrote the row, and an ended
subscription (``canceled``, ``incomplete_expired``) never comes back to life:
Stripe cannot reactivate one, so only a stale event could say otherwise.

Two events of the same second (``created`` is whole seconds: Checkout creates a
subscription ``incomplete`` and pays it within one) are put in order by what they
say, not by which arrived last (:func:`_tie_condition`): a ``created`` comes first
and a ``deleted`` last; an event whose ``previous_attributes.status`` is the stored
status comes after the stored one; a status Stripe's lifecycle cannot go back from
(``incomplete`` → ``active``, ``trialing`` → ``active``, ``past_due`` → ``unpaid``,
anything → ``canceled``) comes after it. Only when none of that tells does the later
delivery win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, router

from django_stripe_portal.models import StripeDiscount, StripeSubscription
from django_stripe_portal.state.row_writes import PreparedInsert

ENDED_STATUSES = ("canceled", "incomplete_expired")

#: ``StripeSubscription.event_stage``: where an event stands in a subscription's life.
CREATED_STAGE, CHANGED_STAGE, DELETED_STAGE = 0, 1, 2

#: (earlier, later) statuses that Stripe's lifecycle moves between in one direction only.
_LIVE_STATUSES = ("incomplete", "trialing", "active", "past_due", "unpaid", "paused")
FORWARD_ONLY: tuple[tuple[str, str], ...] = (
    *(("incomplete", status) for status in (*_LIVE_STATUSES[1:], *ENDED_STATUSES)),
    *(("trialing", status) for status in ("active", "past_due", "unpaid", "paused")),
    ("past_due", "unpaid"),
    *((status, "canceled") for status in _LIVE_STATUSES),
)


@dataclass(frozen=True)
class SubscriptionWrite:
    """The outcome of recording one subscription payload."""

    subscription: StripeSubscription
    #: False when the stored row was newer and kept (the payload was stale).
    applied: bool
    #: The terms of the customer's own discount (``StripeDiscount``), read by the same
    #: statement; None when they have none (or the payload was stale).
    customer_discount: dict[str, Any] | None = None


def record_subscription(
    stripe_id: str, values: dict[str, Any], event_created_at: datetime
) -> SubscriptionWrite:
    """Upsert the row ``stripe_id`` with ``values`` (model fields, as
    ``webhooks.payload.subscription_values`` reads them, plus ``event_stage`` and
    ``previous_status`` when an event says them) unless a newer event already wrote it.
    Two events of the same second are ordered by what they say (the module's rule),
    and nothing revives an ended subscription.
    """
    return PreparedSubscriptionWrite(stripe_id, values, event_created_at).run()


#: Every column but the key: what a newer event overwrites.
_UPDATED_FIELDS = [
    field.name
    for field in StripeSubscription._meta.concrete_fields
    if not field.primary_key and field.name != "stripe_id"
]


class PreparedSubscriptionWrite:
    """:func:`record_subscription` compiled now, sent by :meth:`run` (one statement), so
    that a caller holding a lock holds it only while the statement runs.

    ``INSERT … ON CONFLICT (stripe_id) DO UPDATE … WHERE`` the stored row is not newer
    and not ended: a new subscription, a newer event and a stale one each cost one
    round trip (a stale one a second, to read the row it keeps). On PostgreSQL a
    concurrent insert of the same subscription waits for the other transaction and
    then takes the update branch, so no delivery is lost to a race; the conflicting
    row is locked until the transaction ends even when a stale payload leaves it as
    it is.
    """

    def __init__(self, stripe_id: str, values: dict[str, Any], event_created_at: datetime) -> None:
        self.row = StripeSubscription(
            stripe_id=stripe_id, event_created_at=event_created_at, **values
        )
        using = router.db_for_write(StripeSubscription)
        self.statement = PreparedInsert(
            self.row,
            unique_fields=["stripe_id"],
            update_fields=_UPDATED_FIELDS,
            update_when=_not_older_condition(using),
            extra_returning=(
                _customer_discount_sql(using),
                [self.row.customer_id, self.row.account],
            ),
        )

    def run(self) -> SubscriptionWrite:
        """The row as written (its pk set by the statement), or the newer stored one.

        Raises :class:`SubscriptionAccountMismatch` when the stored row belongs to another
        account: the statement left it alone, and the event must not pass for it.
        """
        returned = self.statement.run()
        if returned is not None:
            terms = returned[-1]
            if isinstance(terms, str):  # SQLite returns JSON as text
                terms = json.loads(terms)
            return SubscriptionWrite(self.row, True, terms or None)
        stored = _stored_subscription(self.row.stripe_id)
        if stored.account != self.row.account:
            raise SubscriptionAccountMismatch(stored, self.row.account)
        return SubscriptionWrite(stored, False)


def _stored_subscription(stripe_id: str) -> StripeSubscription:
    """The stored row a stale payload left as it was: a query written once per database
    (a catch-up page may hold many stale events; building the ORM's query was most of it)."""
    using = router.db_for_read(StripeSubscription)
    found = list(StripeSubscription.objects.using(using).raw(_stored_sql(using), [stripe_id]))
    if not found:
        raise StripeSubscription.DoesNotExist(f"subscription {stripe_id} is not stored")
    return found[0]


@cache
def _stored_sql(using: str) -> str:
    quote = connections[using].ops.quote_name
    table = quote(StripeSubscription._meta.db_table)
    return f"SELECT * FROM {table} WHERE {quote('stripe_id')} = %s"  # noqa: S608


class SubscriptionAccountMismatch(Exception):
    """An event of one account names a subscription stored under another one.

    Stripe's ids are unique across accounts, so this is no Stripe event of that
    subscription: the row is kept as it is and the event is stored as failed, for a
    person to look at (never silently moved to another account).
    """

    def __init__(self, stored: StripeSubscription, account: str) -> None:
        def name(value: str) -> str:
            return f"the connected account {value}" if value else "the platform"

        super().__init__(
            f"subscription {stored.stripe_id} is stored for {name(stored.account)}, but this "
            f"event comes from {name(account)}; the stored row was left unchanged"
        )


@cache
def _customer_discount_sql(using: str) -> str:
    """A scalar subquery for the RETURNING clause: the terms of the customer's own
    discount, so that the run rate can take it into account without another round trip
    (``webhooks.run_rate``; one index probe of a small table)."""
    quote = connections[using].ops.quote_name
    table = quote(StripeDiscount._meta.db_table)
    return (
        f"(SELECT {quote('terms')} FROM {table} WHERE {quote('customer_id')} = %s "  # noqa: S608
        f"AND {quote('account')} = %s AND {quote('subscription_id')} = '' "
        f"AND NOT {quote('deleted')} AND {quote('terms')} IS NOT NULL "
        f"ORDER BY {quote('event_created_at')} DESC LIMIT 1)"
    )


@cache
def _not_older_condition(using: str) -> str:
    """The stored row (``table``) may be overwritten by ``EXCLUDED``: it is of the same
    account, it is older (or of the same second and not after it, :func:`_tie_condition`),
    and it has not ended unless the new state has too. Built once per database, so the
    statement stays one round trip."""
    quote = connections[using].ops.quote_name
    stored = quote(StripeSubscription._meta.db_table)
    event_time, status = quote("event_created_at"), quote("status")
    account = quote("account")
    ended = ", ".join(f"'{name}'" for name in ENDED_STATUSES)
    return (
        f"{stored}.{account} = EXCLUDED.{account} AND "
        f"({stored}.{event_time} < EXCLUDED.{event_time} OR "
        f"({stored}.{event_time} = EXCLUDED.{event_time} AND {_tie_condition(using)})) AND "
        f"(EXCLUDED.{status} IN ({ended}) OR {stored}.{status} NOT IN ({ended}))"
    )


def _tie_condition(using: str) -> str:
    """Whether the new event (``EXCLUDED``) comes after the stored one of the same second,
    by what the two say; the first rule that tells decides."""
    quote = connections[using].ops.quote_name
    stored = quote(StripeSubscription._meta.db_table)
    status, stage, previous = quote("status"), quote("event_stage"), quote("previous_status")
    new_status, old_status = f"EXCLUDED.{status}", f"{stored}.{status}"
    # Pairs as 'before>after' text: a plain IN list, cheaper than row values on SQLite.
    pairs = ", ".join(f"'{before}>{after}'" for before, after in FORWARD_ONLY)
    return (
        "(CASE"
        f" WHEN EXCLUDED.{stage} <> {stored}.{stage} THEN EXCLUDED.{stage} > {stored}.{stage}"
        f" WHEN {new_status} = {old_status} THEN 1 = 1"
        f" WHEN EXCLUDED.{previous} = {old_status} THEN 1 = 1"
        f" WHEN {stored}.{previous} = {new_status} THEN 1 = 0"
        f" WHEN {old_status} || '>' || {new_status} IN ({pairs}) THEN 1 = 1"
        f" WHEN {new_status} || '>' || {old_status} IN ({pairs}) THEN 1 = 0"
        " ELSE 1 = 1 END)"
    )
