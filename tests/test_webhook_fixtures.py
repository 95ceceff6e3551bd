"""Stripe's example event bodies and a representative set of real event types, end to
end through the endpoint."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.events import HANDLED_EVENTS
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from tests import contract
from tests import stripe_objects as so
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = [pytest.mark.django_db, contract.requires_openapi]

Status = WebhookEvent.Status


def _constructed() -> dict[str, dict[str, Any]]:
    return contract.fixtures()["constructed"] if contract.available() else {}


@pytest.mark.parametrize("name", sorted(_constructed()))
def test_every_constructed_fixture_goes_through(client: Client, name: str) -> None:
    event = copy.deepcopy(_constructed()[name])
    contract.validate_object("event", event)
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        response = post_signed(client, event)
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert row.status == Status.PROCESSED
    assert row.type == event["type"] and len(recorder.calls) == 1
    obj = event["data"]["object"]
    if event["type"].startswith("customer.subscription."):
        stored = StripeSubscription.objects.get(stripe_id=obj["id"])
        assert stored.customer_id == obj["customer"] == row.customer_id
    if event["type"] == "customer.subscription.deleted":
        assert (stored.status, row.change_kind) == ("canceled", "canceled")
        assert stored.cancellation_details["feedback"] == obj["cancellation_details"]["feedback"]
    if event["type"] == "billing_portal.session.created":
        assert PortalSession.objects.get(stripe_id=obj["id"]).source == "webhook"
        assert row.payload["data"]["object"]["url"] == "[redacted]"


def _representative() -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    sub = so.subscription
    return [
        ("customer.created", so.customer(), None),
        ("customer.deleted", so.customer(), None),
        ("customer.updated", so.customer(), {"metadata": {}}),
        ("customer.subscription.created", sub(status="incomplete"), None),
        ("customer.subscription.updated", sub(status="active"), {"status": "incomplete"}),
        ("customer.subscription.trial_will_end", sub(status="trialing"), None),
        ("customer.subscription.pending_update_applied", sub(), None),
        ("customer.subscription.paused", sub(status="paused"), None),
        ("customer.subscription.resumed", sub(), None),
        ("customer.subscription.deleted", sub(status="canceled"), None),
        ("billing_portal.session.created", so.portal_session(), None),
        ("billing_portal.configuration.created", so.portal_configuration(), None),
        ("billing_portal.configuration.updated", so.portal_configuration(), {"active": False}),
    ]


@pytest.mark.parametrize(
    ("event_type", "obj", "previous"),
    _representative(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_representative_event_types(
    client: Client, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    assert event_type in contract.event_types()
    event = so.event(event_type, obj, previous_attributes=previous)
    contract.validate_object("event", event)
    assert post_signed(client, event).status_code == 200
    expected = Status.PROCESSED if event_type in HANDLED_EVENTS else Status.IGNORED
    assert WebhookEvent.objects.get(stripe_id=event["id"]).status == expected
