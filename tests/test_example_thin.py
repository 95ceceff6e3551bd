"""The demo's stand-in delivering thin events: the site fetches each event from
``GET /v2/core/events/{id}`` and its object, through real HTTP, and keeps the same state;
with both doors on (Stripe's migration path) each change is stored and dispatched once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
import stripe
from stripe_standin import StandIn, objects

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import contract
from tests.example_support import API_KEY, running_standin
from tests.webhook_support import Recorder, connected

pytestmark = [pytest.mark.django_db(transaction=True), contract.requires_openapi]


@pytest.fixture
def delivery() -> str:
    return "thin"


@pytest.fixture
def standin(
    live_server: Any, stripe_mock: responses.RequestsMock, tmp_path: Path, delivery: str
) -> Iterator[StandIn]:
    with running_standin(live_server, stripe_mock, tmp_path, delivery=delivery) as running:
        yield running


def _subscribe_then_cancel(standin: StandIn) -> str:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    with standin.webhooks.held(), standin.thin.sender.held():  # one in-memory database
        customer = client.v1.customers.create(params={"email": "thin@example.com"})
        subscription = client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_demo_basic"}]}
        )
        # What the stand-in's portal page does when the customer cancels at period end.
        event_type, sub, previous = standin.state.cancel_subscription(
            customer.id, subscription.id, feedback=None, comment=None, immediately=False
        )
        standin.deliver(
            standin.state.record_event(objects.event(event_type, sub, previous_attributes=previous))
        )
    assert standin.webhooks.wait_until_idle() and standin.thin.sender.wait_until_idle()
    return str(subscription.id)


def test_thin_delivery_keeps_the_same_state_through_fetches(standin: StandIn) -> None:
    scheduled = Recorder()
    with connected(signals.subscription_cancel_scheduled, scheduled):
        subscription_id = _subscribe_then_cancel(standin)

    assert StripeSubscription.objects.get(stripe_id=subscription_id).cancel_at_period_end
    assert len(scheduled.calls) == 1
    assert set(WebhookEvent.objects.values_list("received_via", flat=True)) == {
        WebhookEvent.ReceivedVia.EVENT_DESTINATION
    }
    fetched = [r.path for r in standin.requests if r.path.startswith("/v2/core/events/")]
    assert fetched, "each thin event fetched from the stand-in"
    for request in standin.requests:
        if request.method == "GET":
            contract.validate_request(request.method, request.path, request.body)


@pytest.mark.parametrize("delivery", ["both"])
def test_both_doors_at_once_dispatch_each_change_once(standin: StandIn) -> None:
    scheduled = Recorder()
    with connected(signals.subscription_cancel_scheduled, scheduled):
        _subscribe_then_cancel(standin)

    assert len(scheduled.calls) == 1
    assert (
        Counter(WebhookEvent.objects.values_list("type", flat=True))[
            "customer.subscription.updated"
        ]
        == 1
    )
