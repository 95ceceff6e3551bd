"""The thin door: an event destination's notification, verified, its event fetched, then
handed to the same ``accept_event`` → ``receive_event`` a snapshot delivery reaches.

verify (``Stripe-Signature`` with ``EVENT_DESTINATION_SECRETS``, as webhooks) → parse
(the SDK's notification classes, on a body checked first) → fetch the event
(``GET /v2/core/events/{id}`` in the notification's ``context``) and the related object
→ ``thin_events.thin_as_snapshot`` → accept → receive (``received_via =
"event_destination"``). Every fetch happens before anything is stored: a fetch that
fails raises :class:`ThinEventNotFetched` (the view answers 503 so that Stripe retries)
and leaves no row behind.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from stripe.v2.core._event import EventNotification, UnknownEventNotification

from django_stripe_portal.client import get_client, request_id_of
from django_stripe_portal.conf import PortalSettings
from django_stripe_portal.events import THIN_SUBSCRIPTION_ASPECTS
from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.webhooks.accept import accept_event
from django_stripe_portal.webhooks.dispatch import is_handled
from django_stripe_portal.webhooks.payload import stripe_time
from django_stripe_portal.webhooks.process import Outcome
from django_stripe_portal.webhooks.receive import receive_event
from django_stripe_portal.webhooks.store import DONE_STATUSES, stored_status
from django_stripe_portal.webhooks.thin_events import (
    changes_of,
    snapshot_twin,
    thin_as_snapshot,
    unix_time,
    with_changes_applied,
)
from django_stripe_portal.webhooks.verify import verify_signature_of_endpoints

logger = logging.getLogger("django_stripe_portal.webhooks")

DESTINATION = "event_destination"
_EVENT_ID_RE = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")
_TYPE_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*$")
#: A related object's URL, fetched with the API key: a path of Stripe's API, nothing else.
_RELATED_URL_RE = re.compile(r"^/v[12](/[A-Za-z0-9_]+)+$")
_NOT_FOUND = 404


class ThinEventNotFetched(Exception):
    """Stripe could not be asked about a notification (or answered an error): nothing was
    stored, and the notification must be answered with a status Stripe retries."""


@dataclass(frozen=True)
class ThinOutcome:
    """What became of one notification: ``outcome`` once received, else why it was left
    alone (``skipped``: a type this site takes nothing from)."""

    outcome: Outcome
    skipped: str = ""


def receive_notification(body: bytes, header: str | None, conf: PortalSettings) -> ThinOutcome:
    """Verify, fetch and receive one notification. Raises ``WebhookRefused`` (400: nothing
    fetched, nothing stored) or :class:`ThinEventNotFetched` (503: nothing stored)."""
    if not conf.EVENT_DESTINATION_SECRETS:
        raise WebhookRefused(
            "event destination secret not configured",
            "STRIPE_PORTAL['EVENT_DESTINATION_SECRETS'] is empty: set it to the event "
            "destination's whsec_… secret (`manage.py setup_stripe_webhook --destination`)",
        )
    try:
        verify_signature_of_endpoints(
            body, header, {DESTINATION: conf.EVENT_DESTINATION_SECRETS}, conf.webhook_tolerance
        )
    except WebhookRefused as refusal:
        if refusal.reason != "signature mismatch":
            raise
        raise WebhookRefused(
            refusal.reason,
            "no v1 signature matched any EVENT_DESTINATION_SECRETS secret, or the body was "
            "altered; the event destination's secret is not the webhook endpoint's",
        ) from None
    notification = parse_notification(body)
    if notification.livemode is not conf.livemode:
        raise WebhookRefused(
            f"{'live' if notification.livemode else 'test'}-mode event refused",
            f"this site runs in {conf.mode_name} mode (STRIPE_PORTAL['LIVEMODE'] or the API_KEY)",
        )
    twin = snapshot_twin(notification.type)
    if isinstance(notification, UnknownEventNotification) or twin is None or not is_handled(twin):
        logger.info("Thin event %s (%s) left alone: nothing here acts on it", *_named(notification))
        return ThinOutcome(Outcome.IGNORED, skipped="no receiver for this type")
    if stored_status(notification.id) in DONE_STATUSES:
        return ThinOutcome(Outcome.DUPLICATE)
    v2_event = _fetch_event(notification)
    snapshot_id = v2_event.get("snapshot_event")
    if snapshot_id and stored_status(str(snapshot_id)) in DONE_STATUSES:
        # The snapshot endpoint (or an earlier thin event of the same action) got it first.
        return ThinOutcome(Outcome.DUPLICATE)
    before, after = changes_of(v2_event)
    obj, previous = _related_state(notification, v2_event, before)
    obj = with_changes_applied(obj, after)
    if twin.startswith("customer.subscription.") and (
        previous is None or notification.type in THIN_SUBSCRIPTION_ASPECTS
    ):
        # A granular type's changes may name its own aspect only: the stored row tells
        # the rest of what the action changed.
        stored = previous_from_stored_subscription(obj, unix_time(v2_event["created"]))
        previous = {**stored, **(previous or {})}
    event = thin_as_snapshot(v2_event, obj, previous, twin=twin, api_version=conf.api_version)
    accepted, meaning = accept_event(json.dumps(event).encode(), conf.livemode)
    return ThinOutcome(
        receive_event(accepted, meaning, received_via=WebhookEvent.ReceivedVia.EVENT_DESTINATION)
    )


def parse_notification(body: bytes) -> EventNotification:
    """The SDK's notification object for a verified body, after checking the fields the
    app reads (a signed body that is not Stripe's must still not become a 500)."""
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebhookRefused("body is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("object") != "v2.core.event":
        raise WebhookRefused("body is not a thin event notification", "no v2.core.event object")
    problems = [
        name
        for name, pattern in (("id", _EVENT_ID_RE), ("type", _TYPE_RE))
        if not isinstance(parsed.get(name), str) or not pattern.match(parsed[name])
    ]
    context = parsed.get("context")
    if context is not None and (not isinstance(context, str) or not _CONTEXT_RE.match(context)):
        problems.append("context")
    if not isinstance(parsed.get("livemode"), bool):
        problems.append("livemode")
    related = parsed.get("related_object")
    if related is not None and not (
        isinstance(related, dict)
        and isinstance(related.get("url"), str)
        and _RELATED_URL_RE.match(related["url"])
    ):
        problems.append("related_object")
    try:
        unix_time(str(parsed.get("created")))
    except ValueError:
        problems.append("created")
    if problems:
        raise WebhookRefused("body is not a thin event notification", ", ".join(problems))
    try:
        notification = get_client().parse_event_notification_without_verification(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WebhookRefused(
            "thin event notification not understood", f"{type(exc).__name__}: {exc}"
        ) from None
    if notification.id != parsed["id"]:
        raise WebhookRefused("thin event notification not understood", "an envelope around it")
    return notification


def _named(notification: EventNotification) -> tuple[str, str]:
    return notification.id, notification.type


def _fetch_event(notification: EventNotification) -> dict[str, Any]:
    """``GET /v2/core/events/{id}`` (the SDK's retries, the notification's context)."""
    try:
        raw = _get_json(notification, f"/v2/core/events/{notification.id}", "pushed_event_pull")
    except stripe.StripeError as error:
        raise ThinEventNotFetched(_failure("the event", notification, error)) from error
    if raw.get("id") != notification.id or raw.get("type") != notification.type:
        raise ThinEventNotFetched(
            f"GET /v2/core/events/{notification.id} answered another event "
            f"({raw.get('id')!r}, {raw.get('type')!r})"
        )
    try:
        unix_time(str(raw.get("created")))
    except ValueError:
        raise ThinEventNotFetched(f"event {notification.id}: created is not a time") from None
    if not isinstance(raw.get("livemode"), bool):
        raise ThinEventNotFetched(f"event {notification.id}: livemode is not a boolean")
    snapshot_id = raw.get("snapshot_event")
    if snapshot_id is not None and not (
        isinstance(snapshot_id, str) and _EVENT_ID_RE.match(snapshot_id)
    ):
        raise ThinEventNotFetched(f"event {notification.id}: snapshot_event is not an evt_ id")
    return raw


def _related_state(
    notification: EventNotification, v2_event: dict[str, Any], before: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The object the event is about and its previous values (None: not known yet).

    The related object as it is now (``GET related_object.url``); where the type has none
    (a portal session, an entitlement summary) or the object is gone (a deleted tax id),
    the snapshot event of the same action (``GET /v1/events/{snapshot_event}``)."""
    related = getattr(notification, "related_object", None)
    if related is not None:
        try:
            return _get_json(notification, related.url, "fetch_related_object"), before
        except stripe.StripeError as error:
            if getattr(error, "http_status", None) != _NOT_FOUND:
                raise ThinEventNotFetched(
                    _failure("the related object", notification, error)
                ) from error
    snapshot_id = v2_event.get("snapshot_event")
    if snapshot_id:
        try:
            snapshot = _get_json(notification, f"/v1/events/{snapshot_id}", "snapshot_event")
        except stripe.StripeError as error:
            raise ThinEventNotFetched(
                _failure("the snapshot event", notification, error)
            ) from error
        data = snapshot.get("data")
        if isinstance(data, dict) and isinstance(data.get("object"), dict):
            previous = data.get("previous_attributes")
            return data["object"], before or (previous if isinstance(previous, dict) else None)
    if before is not None and isinstance(before.get("object"), str):
        return before, None  # deleted, and Stripe says what it was
    raise ThinEventNotFetched(
        f"event {notification.id} ({notification.type}): its object could not be fetched "
        "and the event names no snapshot event"
    )


def _get_json(notification: EventNotification, path: str, usage: str) -> dict[str, Any]:
    """``GET path`` as the SDK's notification methods send it (the client's retries and
    version, the notification's ``Stripe-Context``, the ``Stripe-Request-Trigger``),
    answered as the JSON Stripe sent: building the SDK's objects for every nested field
    of an event and its object cost a fifth of the door's time, for nothing read."""
    response = get_client().raw_request(
        "get",
        path,
        stripe_context=notification.context,
        headers={"Stripe-Request-Trigger": f"event={notification.id}"},
        usage=[usage],
    )
    if not isinstance(response.data, dict):
        raise ThinEventNotFetched("Stripe answered something that is not a JSON object")
    return response.data


def _failure(what: str, notification: EventNotification, error: stripe.StripeError) -> str:
    return (
        f"could not fetch {what} of thin event {notification.id} ({notification.type}): "
        f"{type(error).__name__} (request id {request_id_of(error) or 'none'})"
    )


#: The subscription fields whose change a signal is about, read against the stored row.
_ROW_FIELDS = ("status", "cancel_at_period_end", "cancel_at", "pause_collection")


def previous_from_stored_subscription(obj: dict[str, Any], created: int) -> dict[str, Any]:
    """``previous_attributes`` read against the stored subscription row, for a thin event
    whose ``changes`` Stripe did not send: each field the row (written by an older event)
    holds otherwise than ``obj``. Empty when no older row exists."""
    row = StripeSubscription.objects.filter(stripe_id=str(obj.get("id") or "")).first()
    event_time = stripe_time(created)
    if row is None or row.event_created_at is None or event_time is None:
        return {}
    if row.event_created_at >= event_time:
        return {}  # the row is as new as this event, or newer: nothing to compare with
    stored: dict[str, Any] = {
        "status": row.status,
        "cancel_at_period_end": row.cancel_at_period_end,
        "cancel_at": _unix(row.cancel_at),
        "pause_collection": row.pause_collection,
    }
    previous = {name: stored[name] for name in _ROW_FIELDS if obj.get(name) != stored[name]}
    current = [
        (item.get("id"), item.get("price", {}).get("id"), item.get("quantity"))
        for item in (obj.get("items") or {}).get("data") or []
        if isinstance(item, dict) and isinstance(item.get("price"), dict)
    ]
    kept = [(item.get("id"), item.get("price"), item.get("quantity")) for item in row.items or []]
    if sorted(map(str, current)) != sorted(map(str, kept)):
        previous["items"] = {
            "object": "list",
            "data": [
                {"id": item_id, "price": {"id": price}, "quantity": quantity}
                for item_id, price, quantity in kept
            ],
        }
    return previous


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None
