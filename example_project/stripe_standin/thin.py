"""Thin delivery from the stand-in: each event it makes is also (or only) sent to an event
destination as a thin notification, and ``GET /v2/core/events/{id}`` answers the event
in Stripe's v2 shape (``changes`` from the snapshot's ``previous_attributes``, the
``snapshot_event`` of the same action, the ``related_object`` to fetch, the connected
account as ``context``).

Which doors deliver is the stand-in's ``delivery`` (``"snapshot"``, ``"thin"`` or
``"both"``: Stripe's migration path, where each change comes through both).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from stripe_standin import objects
from stripe_standin.webhooks import Delivery, WebhookSender

DELIVERIES = ("snapshot", "thin", "both")

#: Where each object type the demo's events are about can be fetched (none: the thin
#: event has no related object, and the snapshot event holds its object).
_RELATED_PATHS = {
    "subscription": "/v1/subscriptions/",
    "customer": "/v1/customers/",
    "payment_method": "/v1/payment_methods/",
    "billing_portal.configuration": "/v1/billing_portal/configurations/",
}
_NOTIFICATION_KEYS = (
    "id",
    "object",
    "type",
    "created",
    "livemode",
    "context",
    "reason",
    "related_object",
)


def thin_event_of(event: dict[str, Any]) -> dict[str, Any]:
    """The v2 event of a snapshot event, as ``GET /v2/core/events/{id}`` answers it."""
    obj = event["data"]["object"]
    before = event["data"].get("previous_attributes")
    request = event.get("request") or {}
    thin: dict[str, Any] = {
        "id": objects.new_id("evt"),
        "object": "v2.core.event",
        "type": f"v1.{event['type']}",
        "created": datetime.fromtimestamp(event["created"], tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "livemode": event["livemode"],
        "context": event.get("account"),
        "reason": {
            "type": "request",
            "request": {
                "id": request.get("id") or objects.new_id("req"),
                "idempotency_key": request.get("idempotency_key") or "",
            },
        },
        "changes": {"before": before, "after": {key: obj.get(key) for key in before}}
        if before
        else None,
        "snapshot_event": event["id"],
    }
    path = _RELATED_PATHS.get(str(obj.get("object")))
    if path and obj.get("id"):
        thin["related_object"] = {"id": obj["id"], "type": obj["object"], "url": path + obj["id"]}
    return thin


def notification_of(thin: dict[str, Any]) -> dict[str, Any]:
    """What the destination POSTs: no ``changes``, no ``snapshot_event``."""
    return {key: thin[key] for key in _NOTIFICATION_KEYS if thin.get(key) is not None}


class ThinDestination:
    """Keeps the v2 events it made, and delivers their notifications to ``url``."""

    def __init__(self, url: str | None, secret: str) -> None:
        self.sender = WebhookSender(url, secret)
        self._events: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str | None:
        return self.sender.url

    @url.setter
    def url(self, value: str | None) -> None:
        self.sender.url = value

    def send(self, event: dict[str, Any]) -> Delivery:
        thin = thin_event_of(event)
        with self._lock:
            self._events[thin["id"]] = thin
        return self.sender.send(notification_of(thin))

    def answer(self, event_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            thin = self._events.get(event_id)
        if thin is None:
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such event: '{event_id}'",
                }
            }
        return 200, thin

    def stop(self) -> None:
        self.sender.stop()
