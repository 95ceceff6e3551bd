"""Subscription state from Stripe payloads, never moved backwards by a late event.

Stripe does not promise delivery order, so every write is conditional on the
event being at least as new as the one that last wrote the row, and an ended
subscription (``canceled``, ``incomplete_expired``) never comes back to life:
Stripe cannot reactivate one, so only a stale event could say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connections, router

from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.single_statement import PreparedInsert

ENDED_STATUSES = ("canceled", "incomplete_expired")


@dataclass(frozen=True)
class SubscriptionWrite:
    """The outcome of recording one subscription payload."""

    subscription: StripeSubscription
    #: False when the stored row was newer and kept (the payload was stale).
    applied: bool


def stripe_time(value: int | float | None) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def id_of(value: Any) -> str:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def subscription_items(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"id": "si_…", "price": "price_…", "quantity": n}]`` for each item of a payload.

    The item id is kept because the portal's ``subscription_update_confirm`` deep link
    must name the item it changes.
    """
    items = (obj.get("items") or {}).get("data") or []
    return [
        {
            "id": str(item.get("id") or ""),
            "price": id_of(item.get("price")),
            "quantity": item.get("quantity"),
        }
        for item in items
        if isinstance(item, dict)
    ]


def current_period_end(obj: dict[str, Any]) -> datetime | None:
    """Since API 2025-03-31 the period lives on the items; older versions keep it on the
    subscription. The latest item end is the one access should run to."""
    ends: list[int] = [
        int(item["current_period_end"])
        for item in (obj.get("items") or {}).get("data") or []
        if isinstance(item, dict) and item.get("current_period_end")
    ]
    if ends:
        return stripe_time(max(ends))
    return stripe_time(obj.get("current_period_end"))


def subscription_values(obj: dict[str, Any]) -> dict[str, Any]:
    """The model fields a subscription payload sets."""
    details = obj.get("cancellation_details") or {}
    return {
        "customer_id": id_of(obj.get("customer")),
        "status": str(obj.get("status") or ""),
        "items": subscription_items(obj),
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": stripe_time(obj.get("cancel_at")),
        "canceled_at": stripe_time(obj.get("canceled_at")),
        "current_period_end": current_period_end(obj),
        "cancellation_details": {
            key: details.get(key) for key in ("reason", "feedback", "comment") if key in details
        },
        "livemode": bool(obj.get("livemode")),
    }


def record_subscription(
    obj: dict[str, Any], event_created_at: datetime, *, status: str | None = None
) -> SubscriptionWrite:
    """Upsert the row for ``obj`` unless a newer event already wrote it.

    ``status`` overrides the payload's (``customer.subscription.deleted`` → ``canceled``).
    Two events of the same second: the later delivery wins, except that it cannot
    revive an ended subscription.
    """
    return PreparedSubscriptionWrite(obj, event_created_at, status=status).run()


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

    def __init__(
        self, obj: dict[str, Any], event_created_at: datetime, *, status: str | None = None
    ) -> None:
        values = subscription_values(obj)
        if status is not None:
            values["status"] = status
        self.row = StripeSubscription(
            stripe_id=str(obj["id"]), event_created_at=event_created_at, **values
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
