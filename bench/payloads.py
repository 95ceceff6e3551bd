"""Signed, real-shaped webhook deliveries for the load generator.

The objects come from ``tests/stripe_objects.py`` (Stripe's example objects,
and a payment method built field by field there; the smoke test checks every
kind against Stripe's schema).
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import stripe_objects

#: Customers the load is spread over; preloaded events use a wider pool that includes them.
LOAD_CUSTOMERS = 1000
PRICES = ("price_basic", "price_pro", "price_team")
#: A redelivery repeats an event sent at least this many deliveries earlier.
REDELIVERY_GAP = 20

#: (event type or variant, weight): a price change touching many subscriptions is
#: mostly ``customer.subscription.updated``; the portal adds the rest.
MIX: tuple[tuple[str, int], ...] = (
    ("subscription.plan_changed", 25),
    ("subscription.quantity_changed", 12),
    ("subscription.cancel_scheduled", 8),
    ("subscription.reactivated", 5),
    ("customer.subscription.deleted", 6),
    ("billing_portal.session.created", 16),
    ("customer.updated", 14),
    ("payment_method.attached", 14),
)


@dataclass(frozen=True)
class Delivery:
    event_id: str
    body: bytes
    duplicate: bool


def customer_id(index: int) -> str:
    return f"cus_bench{index:05d}"


def subscription_id(index: int) -> str:
    return f"sub_bench{index:05d}"


def _items_list(sub_id: str, items: list[tuple[str, int]]) -> dict[str, Any]:
    sub = stripe_objects.subscription(id=sub_id, items=items)
    return sub["items"]  # type: ignore[no-any-return]


def build_event(kind: str, event_id: str, created: int, rng: random.Random) -> dict[str, Any]:
    """One event of ``kind`` (a ``MIX`` name) about a random customer of the load pool."""
    index = rng.randrange(LOAD_CUSTOMERS)
    cus, sub_id = customer_id(index), subscription_id(index)
    make = stripe_objects.event
    if kind.startswith("subscription."):
        old_price, new_price = rng.sample(PRICES, 2)
        old_qty = rng.randint(1, 20)
        if kind == "subscription.plan_changed":
            sub = stripe_objects.subscription(id=sub_id, customer=cus, items=[(new_price, old_qty)])
            previous = {"items": _items_list(sub_id, [(old_price, old_qty)])}
        elif kind == "subscription.quantity_changed":
            sub = stripe_objects.subscription(
                id=sub_id, customer=cus, items=[(old_price, old_qty + 1)]
            )
            previous = {"items": _items_list(sub_id, [(old_price, old_qty)])}
        elif kind == "subscription.cancel_scheduled":
            sub = stripe_objects.subscription(
                id=sub_id,
                customer=cus,
                items=[(old_price, old_qty)],
                cancel_at_period_end=True,
                cancel_at=created + 20 * 86400,
                canceled_at=created,
                cancellation_details={
                    "reason": "cancellation_requested",
                    "feedback": "too_expensive",
                },
            )
            previous = {"cancel_at_period_end": False, "cancel_at": None, "canceled_at": None}
        else:  # reactivated
            sub = stripe_objects.subscription(id=sub_id, customer=cus, items=[(old_price, old_qty)])
            previous = {
                "cancel_at_period_end": True,
                "cancel_at": created + 20 * 86400,
                "canceled_at": created - 3600,
            }
        return make(
            "customer.subscription.updated",
            sub,
            previous_attributes=previous,
            id=event_id,
            created=created,
        )
    if kind == "customer.subscription.deleted":
        sub = stripe_objects.subscription(
            id=sub_id,
            customer=cus,
            status="canceled",
            canceled_at=created,
            ended_at=created,
            cancellation_details={"reason": "cancellation_requested", "feedback": "unused"},
        )
        return make(kind, sub, id=event_id, created=created)
    if kind == "billing_portal.session.created":
        session = stripe_objects.portal_session(customer=cus)
        session["created"] = created
        return make(kind, session, id=event_id, created=created)
    if kind == "customer.updated":
        obj = stripe_objects.customer(id=cus, email=f"new{rng.randrange(10**6)}@example.com")
        return make(
            kind,
            obj,
            previous_attributes={"email": f"old{index}@example.com"},
            id=event_id,
            created=created,
        )
    if kind == "payment_method.attached":
        obj = stripe_objects.payment_method(id=f"pm_{event_id[4:]}", customer=cus, created=created)
        return make(kind, obj, id=event_id, created=created)
    raise ValueError(f"unknown kind {kind!r}")


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send with ``body``."""
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )


def recent_time() -> int:
    """An event's ``created`` a minute ago, as a delivery's: an event days old would also
    forget settled activity days, which a delivery on time never does."""
    return int(time.time()) - 60


def deliveries(count: int, *, prefix: str, duplicate_share: float, seed: int) -> list[Delivery]:
    """``count`` deliveries; about ``duplicate_share`` of them redeliver an earlier event."""
    rng = random.Random(seed)
    kinds = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    base_time = recent_time()
    sent: list[Delivery] = []
    for n in range(count):
        # A redelivery comes well after the first delivery was answered, as Stripe's do.
        if len(sent) > REDELIVERY_GAP and rng.random() < duplicate_share:
            original = rng.choice(sent[:-REDELIVERY_GAP])
            sent.append(Delivery(original.event_id, original.body, True))
            continue
        event_id = f"{prefix}{n:07d}"
        kind = rng.choices(kinds, weights)[0]
        event = build_event(kind, event_id, base_time + n // 50, rng)
        sent.append(Delivery(event_id, json.dumps(event).encode(), False))
    return sent
