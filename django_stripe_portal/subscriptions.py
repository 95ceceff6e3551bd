"""Subscription state from Stripe payloads, never moved backwards by a late event.

Stripe does not promise delivery order, so every write is conditional on the
event being at least as new as the one that last wrote the row, and an ended
subscription (``canceled``, ``incomplete_expired``) never comes back to life:
Stripe cannot reactivate one, so only a stale event could say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import router
from django.db.models import Q
from django.utils import timezone

from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.single_statement import insert_unless_exists, update_returning

ENDED_STATUSES = ("canceled", "incomplete_expired")


@dataclass(frozen=True)
class SubscriptionWrite:
    """The outcome of recording one subscription payload."""

    subscription: StripeSubscription
    #: False when the stored row was newer and kept (the payload was stale).
    applied: bool
    created: bool


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
    stripe_id = str(obj["id"])
    values = subscription_values(obj)
    if status is not None:
        values["status"] = status
    values["event_created_at"] = event_created_at
    values["updated"] = timezone.now()

    not_older = Q(event_created_at__lte=event_created_at)
    if values["status"] not in ENDED_STATUSES:
        not_older &= ~Q(status__in=ENDED_STATUSES)
    rows = StripeSubscription.objects.filter(not_older, stripe_id=stripe_id)

    updated = update_returning(rows, **values)
    if updated:
        return SubscriptionWrite(_saved(stripe_id, updated[0][0], values), True, False)
    # No row, or a newer one. One INSERT … ON CONFLICT DO NOTHING tells which, without a
    # savepoint; a concurrent delivery that inserted first is then updated over as usual.
    row = StripeSubscription(stripe_id=stripe_id, **values)
    if insert_unless_exists(row) is not None:
        return SubscriptionWrite(row, True, True)
    updated = update_returning(rows, **values)
    if updated:
        return SubscriptionWrite(_saved(stripe_id, updated[0][0], values), True, False)
    stored = StripeSubscription.objects.get(stripe_id=stripe_id)
    return SubscriptionWrite(stored, False, False)


def _saved(stripe_id: str, pk: Any, values: dict[str, Any]) -> StripeSubscription:
    """The row as just written, without reading it back."""
    row = StripeSubscription(pk=pk, stripe_id=stripe_id, **values)
    row._state.adding = False
    row._state.db = router.db_for_write(StripeSubscription)
    return row
