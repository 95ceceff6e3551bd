"""Thin events for tests: the notification an event destination POSTs, the event
``GET /v2/core/events/{id}`` answers, and a Stripe (``responses``) that answers both."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import responses as responses_lib
from django.test import Client

from django_stripe_portal.testing import sign_payload
from tests import contract
from tests import stripe_objects as so

DESTINATION_SECRET = "whsec_destination_tests"
EVENTS_URL = "/billing/events/"
STRIPE_API = "https://api.stripe.com"

#: The object each related-object type's URL names (Stripe's paths).
_PATHS = {"subscription": "/v1/subscriptions/", "customer": "/v1/customers/"}


def rfc3339(unix: int) -> str:
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def v2_event(
    thin_type: str,
    related: dict[str, Any] | None,
    *,
    changes: dict[str, Any] | None = None,
    snapshot_event: str | None = None,
    context: str | None = None,
    created: int | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """What ``GET /v2/core/events/{id}`` answers for a thin event about ``related``."""
    event: dict[str, Any] = {
        "id": id or so.unique_id("evt"),
        "object": "v2.core.event",
        "type": thin_type,
        "created": rfc3339(created or int(time.time())),
        "livemode": False,
        "context": context,
        "reason": {
            "type": "request",
            "request": {"id": so.unique_id("req"), "idempotency_key": so.unique_id("idem")},
        },
        "changes": changes,
        "snapshot_event": snapshot_event,
    }
    if related is not None:
        event["related_object"] = related_reference(related)
    return event


def related_reference(obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": obj["id"], "type": obj["object"], "url": f"{_PATHS[obj['object']]}{obj['id']}"}


def notification_of(event: dict[str, Any]) -> dict[str, Any]:
    """The body an event destination POSTs for ``event`` (no changes, no snapshot_event)."""
    keys = ("id", "object", "type", "created", "livemode", "context", "reason", "related_object")
    body = {key: event[key] for key in keys if key in event}
    if body.get("context") is None:
        body.pop("context", None)
    return body


def answer(
    mock: responses_lib.RequestsMock,
    event: dict[str, Any],
    related: dict[str, Any] | None = None,
    *,
    event_status: int = 200,
) -> None:
    """Stripe answering the event and its related object (each as often as asked)."""
    contract.validate_object("v2.core.event", event, strict=True)
    mock.get(
        f"{STRIPE_API}/v2/core/events/{event['id']}",
        json=event
        if event_status == 200
        else {"error": {"type": "api_error", "code": "unavailable", "message": "down"}},
        status=event_status,
    )
    if related is not None:
        contract.validate_object(related["object"], related)
        mock.get(f"{STRIPE_API}{related_reference(related)['url']}", json=related)


def post_thin(
    client: Client,
    notification: dict[str, Any] | str | bytes,
    secret: str = DESTINATION_SECRET,
    *,
    header: str | None = None,
) -> Any:
    body = notification if isinstance(notification, str | bytes) else json.dumps(notification)
    if isinstance(notification, dict):
        contract.validate_object("v2.core.event_notification", notification, strict=True)
    signature = header if header is not None else sign_payload(body, secret)
    return client.post(
        EVENTS_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def stripe_calls(mock: responses_lib.RequestsMock) -> list[str]:
    """The Stripe requests made, each checked against the spec, as ``METHOD path``."""
    made = []
    for call in mock.calls:
        request = call.request
        contract.validate_request(request.method or "", request.url or "", request.body)
        made.append(f"{request.method} {request.path_url}")
    return made
