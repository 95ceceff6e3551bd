"""Turn a verified body into the event dict, refusing anything that is not a Stripe event."""

from __future__ import annotations

import json
from typing import Any

from django_stripe_portal.exceptions import WebhookRefused

REDACTED = "[redacted]"


def parse_event(body: bytes) -> dict[str, Any]:
    """The event as a dict, after checking the envelope fields the app relies on."""
    try:
        event = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("body is not JSON") from None
    if b"\\u0000" in body:
        event = _without_nul(event)
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookRefused("body is not a Stripe event", "no object=event envelope")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise WebhookRefused("body is not a Stripe event", "id is not an evt_… string")
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
        raise WebhookRefused("body is not a Stripe event", "type is missing")
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created < 2**37:
        raise WebhookRefused("body is not a Stripe event", "created is not a Unix time")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise WebhookRefused("body is not a Stripe event", "data.object is not an object")
    previous = data.get("previous_attributes")
    if previous is not None and not isinstance(previous, dict):
        raise WebhookRefused("body is not a Stripe event", "previous_attributes is not an object")
    if not isinstance(event.get("livemode"), bool):
        raise WebhookRefused("body is not a Stripe event", "livemode is not a boolean")
    for key, limit in (("api_version", 50), ("account", 255)):
        value = event.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise WebhookRefused("body is not a Stripe event", f"{key} is not a short string")
    return event


def _refuse_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (Python accepts them; PostgreSQL does not)."""
    raise ValueError(f"{name} is not JSON")


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL character replaced by U+FFFD: PostgreSQL's ``jsonb`` and
    ``text`` cannot hold NUL, and refusing the event would lose it for good."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def check_mode(event: dict[str, Any], livemode: bool) -> None:
    """Refuse events of the other mode: a test event must never act on live data."""
    if event["livemode"] is not livemode:
        theirs, ours = ("live", "test") if event["livemode"] else ("test", "live")
        raise WebhookRefused(
            f"{theirs}-mode event refused",
            f"this site runs in {ours} mode (STRIPE_PORTAL['LIVEMODE'] or the API_KEY prefix)",
        )


def redact_secrets(event: dict[str, Any]) -> None:
    """Blank the portal session URL (a bearer credential) before the payload is stored."""
    if event["type"] == "billing_portal.session.created":
        obj = event["data"]["object"]
        if obj.get("url"):
            obj["url"] = REDACTED
