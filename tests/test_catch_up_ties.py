"""Catch-up of more than 20 types lists them in several runs (Stripe's ``types`` takes
up to 20), and each run's places say the order within that run only: events of one
second from different runs are received in Stripe's order all the same."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from django_stripe_portal import signals
from tests import contract
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.test_fetch_stripe_events import HOST_TYPE, fetch
from tests.webhook_support import Recorder, connected

pytestmark = pytest.mark.django_db


@contract.requires_openapi
def test_same_second_events_of_two_listings_are_received_in_stripes_order(
    stripe_events: FakeStripeEvents,
) -> None:
    first_listing = ["customer.subscription.created", "customer.subscription.deleted"]
    fillers = [name for name in contract.event_types() if name not in (*first_listing, HOST_TYPE)]
    types = [*first_listing, *fillers[:18], HOST_TYPE]  # HOST_TYPE: the second listing
    second = int(time.time()) - 600
    sub = so.subscription()
    # Ids that sort against Stripe's order, so that nothing but the order can pass.
    created = [
        stripe_events.create("customer.subscription.created", sub, id="evt_1TieA", created=second),
        stripe_events.create(HOST_TYPE, so.customer(id="cus_a"), id="evt_0TieA", created=second),
        stripe_events.create("customer.subscription.deleted", sub, id="evt_1TieB", created=second),
        stripe_events.create(HOST_TYPE, so.customer(id="cus_b"), id="evt_0TieB", created=second),
    ]
    recorder = Recorder()
    with ExitStack() as stack:
        stack.enter_context(connected(signals.event_signal(HOST_TYPE), Recorder()))
        stack.enter_context(connected(signals.webhook_received, recorder))
        fetch("--hours", "1", *[arg for name in types for arg in ("--type", name)])

    assert [call["event"].stripe_id for call in recorder.calls] == [e["id"] for e in created]
    # The two listings, then that one second of every type.
    assert [len(call.get("types") or []) for call in stripe_events.calls] == [20, 1, 0]


@contract.requires_openapi
def test_one_listing_costs_no_extra_request(stripe_events: FakeStripeEvents) -> None:
    second = int(time.time()) - 600
    for _ in range(3):
        stripe_events.create("customer.subscription.created", so.subscription(), created=second)
    fetch("--hours", "1", "--type", "customer.subscription.created")
    assert len(stripe_events.calls) == 1
