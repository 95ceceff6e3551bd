"""Helpers for host projects' tests: build, sign and post Stripe events to the webhook.

from django_stripe_portal.testing import make_event, post_event

def test_win_back(client):
    event = make_event("customer.subscription.updated", subscription,
                       previous_attributes={"cancel_at_period_end": False})
    assert post_event(client, event).status_code == 200
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import stripe
from django.test import Client
from django.urls import reverse

from django_stripe_portal.conf import get_settings


def sign_payload(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send with ``payload`` (the exact body)."""
    if isinstance(payload, bytes):
        payload = payload.decode()
    header: str = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=int(time.time()) if timestamp is None else timestamp
    )
    return header


def make_event(
    type: str,
    obj: dict[str, Any],
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event envelope shaped like Stripe's, in the site's mode and API version.

    ``obj`` is the ``data.object`` (a subscription, customer … as Stripe sends it).
    """
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    conf = get_settings()
    return {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": conf.api_version,
        "created": int(time.time()),
        "data": data,
        "livemode": bool(obj.get("livemode", conf.livemode)),
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def post_event(
    client: Client, event: dict[str, Any] | str | bytes, secret: str | None = None
) -> Any:
    """POST ``event`` to ``stripe_portal:webhook``, signed with ``secret`` (default: the
    first of ``WEBHOOK_SECRETS``), and return the response."""
    body = event if isinstance(event, (str, bytes)) else json.dumps(event)
    if secret is None:
        configured = get_settings().WEBHOOK_SECRETS
        if not configured:
            raise ValueError("Pass secret= or set STRIPE_PORTAL['WEBHOOK_SECRETS'].")
        secret = str(configured[0])
    return client.post(
        reverse("stripe_portal:webhook"),
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(body, secret),
    )
