"""The demo's catch-up: the stand-in's ``GET /v1/events`` lists what the site missed while
it was down, and ``fetch_stripe_events`` receives it, through real HTTP."""

from __future__ import annotations

import io
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
import stripe
from django.core.management import call_command
from stripe_standin import StandIn

from django_stripe_portal import signals
from django_stripe_portal.events import HANDLED_EVENTS
from django_stripe_portal.models import ActiveEntitlements, StripeSubscription, WebhookEvent
from tests import contract
from tests.example_support import API_KEY, running_standin
from tests.webhook_support import Recorder, connected

pytestmark = [pytest.mark.django_db(transaction=True), contract.requires_openapi]


@pytest.fixture
def standin(
    live_server: Any, stripe_mock: responses.RequestsMock, tmp_path: Path
) -> Iterator[StandIn]:
    with running_standin(live_server, stripe_mock, tmp_path) as running:
        yield running


def _subscribe(client: stripe.StripeClient, email: str) -> str:
    customer = client.v1.customers.create(params={"email": email})
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": "price_demo_basic"}]}
    )
    return str(subscription.id)


def _fetch(*args: str) -> str:
    out = io.StringIO()
    call_command("fetch_stripe_events", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_what_the_site_missed_while_down_is_fetched_from_the_standin(standin: StandIn) -> None:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    with standin.webhooks.held():  # the in-memory database is shared with the live server
        delivered = _subscribe(client, "up@example.com")
    assert standin.webhooks.wait_until_idle()
    assert StripeSubscription.objects.filter(stripe_id=delivered).exists()

    address, standin.webhooks.url = standin.webhooks.url, None  # the site is down
    missed = [_subscribe(client, f"down{n}@example.com") for n in range(3)]
    standin.webhooks.url = address

    created = Recorder()
    with connected(signals.webhook_received, created):
        output = _fetch("--hours", "1", "--undelivered")
    # Each subscription, and the entitlement summary its product's features caused.
    assert "Listed 6 event(s): 6 new, 0 already stored, 0 failed." in output
    assert {call["event"].type for call in created.calls} == {
        "customer.subscription.created",
        "entitlements.active_entitlement_summary.updated",
    }
    assert set(StripeSubscription.objects.values_list("stripe_id", flat=True)) == {
        delivered,
        *missed,
    }
    assert WebhookEvent.objects.filter(received_via="events_api").count() == 6
    # The catch-up reaches the same entitlement write as a delivery.
    kept = list(ActiveEntitlements.objects.values_list("lookup_keys", flat=True))
    assert kept == [["basic-reports"]] * 4

    assert "0 new, 8 already stored" in _fetch("--hours", "1")
    lists = [r for r in standin.requests if urllib.parse.urlsplit(r.path).path == "/v1/events"]
    listings = -(-len(HANDLED_EVENTS) // 20)  # Stripe takes 20 types[] a listing at most
    assert len(lists) == 2 * listings
    for request in lists:
        contract.validate_request(request.method, request.path, request.body)
