"""``django_stripe_portal.testing``: what host projects use in their own tests."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from django.test import Client, override_settings

from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.testing import make_event, post_event, sign_payload
from django_stripe_portal.webhooks.verify import verify_signature
from tests import contract
from tests import stripe_objects as so


def test_sign_payload_is_accepted_by_stripe_and_by_the_app() -> None:
    body = json.dumps({"id": "evt_1", "object": "event"})
    header = sign_payload(body, "whsec_abc")
    stripe.WebhookSignature.verify_header(body, header, "whsec_abc", tolerance=300)
    verify_signature(body.encode(), header, ["whsec_abc"], 300)
    with pytest.raises(WebhookRefused):
        verify_signature(body.encode(), header, ["whsec_other"], 300)


def test_sign_payload_uses_the_given_timestamp_and_accepts_bytes() -> None:
    header = sign_payload(b"{}", "whsec_abc", timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    verify_signature(b"{}", header, ["whsec_abc"], 300, now=1_700_000_100)
    with pytest.raises(WebhookRefused, match="tolerance"):
        verify_signature(b"{}", header, ["whsec_abc"], 300, now=time.time())


@contract.requires_openapi
def test_make_event_is_a_valid_stripe_event() -> None:
    sub = so.subscription()
    event = make_event("customer.subscription.updated", sub, {"cancel_at_period_end": False})
    contract.validate_object("event", event)
    assert event["type"] in contract.event_types()
    assert event["data"] == {"object": sub, "previous_attributes": {"cancel_at_period_end": False}}
    assert event["id"].startswith("evt_") and event["livemode"] is False
    assert make_event("customer.updated", so.customer())["id"] != event["id"]


@pytest.mark.django_db
def test_post_event_goes_through_the_real_endpoint(client: Client) -> None:
    event = make_event("customer.subscription.created", so.subscription())
    response = post_event(client, event)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().stripe_id == event["id"]
    assert (
        post_event(client, make_event("customer.updated", so.customer()), "whsec_wrong").status_code
        == 400
    )


def test_post_event_needs_a_secret(client: Client) -> None:
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x"}):
        with pytest.raises(ValueError, match="WEBHOOK_SECRETS"):
            post_event(client, make_event("customer.updated", so.customer()))
