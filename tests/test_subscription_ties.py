"""Two events of one subscription in the same second (Stripe's ``created`` is whole
seconds) are put in order by what they say, in either delivery order: a paying customer
is never moved back to ``incomplete`` by the ``created`` that arrived second."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from django_stripe_portal.access import has_active_subscription
from django_stripe_portal.models import StripeSubscription
from tests import stripe_objects as so
from tests.factories import StripeCustomerFactory, UserFactory
from tests.webhook_support import post_signed

pytestmark = pytest.mark.django_db

SUB = "sub_tie"
SECOND = int(time.time()) - 600


def _event(
    event_type: str, status: str, previous: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    sub = so.subscription(id=SUB, customer="cus_tie", status=status, **fields)
    return so.event(event_type, sub, previous_attributes=previous, created=SECOND)


def _deliver_all(client: Client, events: list[dict[str, Any]]) -> str:
    """The stored status, and ``+cancel`` when a cancellation is scheduled."""
    for event in events:
        assert post_signed(client, event).status_code == 200
    row = StripeSubscription.objects.get(stripe_id=SUB)
    return row.status + ("+cancel" if row.cancel_at_period_end else "")


#: (the events in Stripe's order, the status they leave): each pair is delivered both ways.
PAIRS = {
    "checkout paid in the second it created": (
        _event("customer.subscription.created", "incomplete"),
        _event("customer.subscription.updated", "active", {"status": "incomplete"}),
        "active",
    ),
    "created active, then cancellation scheduled": (
        _event("customer.subscription.created", "active"),
        _event(
            "customer.subscription.updated",
            "active",
            {"cancel_at_period_end": False},
            cancel_at_period_end=True,
        ),
        "active+cancel",
    ),
    "trial converted": (
        _event("customer.subscription.updated", "trialing", {"trial_end": SECOND + 9}),
        _event("customer.subscription.updated", "active"),
        "active",
    ),
    "payment failed (previous_attributes tells)": (
        _event("customer.subscription.updated", "active", {"cancel_at_period_end": True}),
        _event("customer.subscription.updated", "past_due", {"status": "active"}),
        "past_due",
    ),
    "payment recovered (past_due and active go both ways: previous_attributes tells)": (
        _event("customer.subscription.updated", "past_due", {"cancel_at_period_end": True}),
        _event("customer.subscription.updated", "active", {"status": "past_due"}),
        "active",
    ),
    "retries exhausted": (
        _event("customer.subscription.updated", "past_due"),
        _event("customer.subscription.updated", "unpaid"),
        "unpaid",
    ),
    "incomplete expired": (
        _event("customer.subscription.created", "incomplete"),
        _event("customer.subscription.updated", "incomplete_expired"),
        "incomplete_expired",
    ),
    "paused at the trial's end": (
        _event("customer.subscription.updated", "trialing"),
        _event("customer.subscription.paused", "paused"),
        "paused",
    ),
    "canceled right after an update": (
        _event("customer.subscription.updated", "active", {"cancel_at_period_end": False}),
        _event("customer.subscription.deleted", "canceled"),
        "canceled",
    ),
    "deleted is last even beside its own created": (
        _event("customer.subscription.created", "active"),
        _event("customer.subscription.deleted", "canceled"),
        "canceled",
    ),
}


@pytest.mark.parametrize("name", PAIRS)
@pytest.mark.parametrize("order", ["in Stripe's order", "reversed"])
def test_same_second_events_leave_the_later_state(client: Client, name: str, order: str) -> None:
    first, second, expected = PAIRS[name]
    events = [first, second] if order == "in Stripe's order" else [second, first]
    assert _deliver_all(client, events) == expected


def test_the_checkout_customer_keeps_access_when_updated_arrives_first(client: Client) -> None:
    StripeCustomerFactory(user=(user := UserFactory()), customer_id="cus_tie")
    created, updated, _ = PAIRS["checkout paid in the second it created"]

    _deliver_all(client, [updated, created])

    assert has_active_subscription(user=user)


def test_without_anything_to_tell_the_later_delivery_still_wins(client: Client) -> None:
    # Two updates of one status and nothing in previous_attributes about it.
    one = _event("customer.subscription.updated", "active", {"cancel_at_period_end": True})
    one["data"]["object"]["cancel_at_period_end"] = False
    two = _event("customer.subscription.updated", "active", {"cancel_at_period_end": False})
    two["data"]["object"]["cancel_at_period_end"] = True

    _deliver_all(client, [one, two])

    assert StripeSubscription.objects.get(stripe_id=SUB).cancel_at_period_end is True
