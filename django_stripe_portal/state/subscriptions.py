"""Subscription state, never moved backwards by a late event.

Stripe does not promise delivery order, so every write is conditional on the
event being at least as new as the one that last wrote the row, and an ended
subscription (``canceled``, ``incomplete_expired``) never comes back to life:
Stripe cannot reactivate one, so only a stale event could say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, router

from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.state.row_writes import PreparedInsert

ENDED_STATUSES = ("canceled", "incomplete_expired")


@dataclass(frozen=True)
class SubscriptionWrite:
    """The outcome of recording one subscription payload."""

    subscription: StripeSubscription
    #: False when the stored row was newer and kept (the payload was stale).
    applied: bool


def record_subscription(
    stripe_id: str, values: dict[str, Any], event_created_at: datetime
) -> SubscriptionWrite:
    """Upsert the row ``stripe_id`` with ``values`` (model fields, as
    ``webhooks.payload.subscription_values`` reads them) unless a newer event already
    wrote it. Two events of the same second: the later delivery wins, except that it
    cannot revive an ended subscription.
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
        self.statement = PreparedInsert(
            self.row,
            unique_fields=["stripe_id"],
            update_fields=_UPDATED_FIELDS,
            update_when=_not_older_condition(router.db_for_write(StripeSubscription)),
        )

    def run(self) -> SubscriptionWrite:
        """The row as written (its pk set by the statement), or the newer stored one."""
        if self.statement.run() is not None:
            return SubscriptionWrite(self.row, True)
        return SubscriptionWrite(
            StripeSubscription.objects.get(stripe_id=self.row.stripe_id), False
        )


@cache
def _not_older_condition(using: str) -> str:
    """The stored row (``table``) may be overwritten by ``EXCLUDED``: it is not newer, and
    it has not ended unless the new state has too. Built once per database."""
    quote = connections[using].ops.quote_name
    stored = quote(StripeSubscription._meta.db_table)
    event_time, status = quote("event_created_at"), quote("status")
    ended = ", ".join(f"'{name}'" for name in ENDED_STATUSES)
    return (
        f"{stored}.{event_time} <= EXCLUDED.{event_time} AND "
        f"(EXCLUDED.{status} IN ({ended}) OR {stored}.{status} NOT IN ({ended}))"
    )
