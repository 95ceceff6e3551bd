"""Setting up the event destination (thin events) for this app: found by its metadata,
created or updated, as ``endpoint_setup`` does for the snapshot endpoint.

Used by ``manage.py setup_stripe_webhook --destination``. Requests go through the stripe
library's ``v2.core.event_destinations`` service (JSON bodies): ``GET
/v2/core/event_destinations`` (with the normally redacted URL included), ``POST
/v2/core/event_destinations`` (the signing secret comes back once, in
``webhook_endpoint.signing_secret``, because the create asks for it with ``include``)
and ``POST /v2/core/event_destinations/{id}``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import stripe
from stripe.events._event_classes import get_v2_event_notification_class
from stripe.params.v2.core import EventDestinationCreateParams
from stripe.v2.core._event import UnknownEventNotification

from django_stripe_portal.client import get_client
from django_stripe_portal.configurations.schema import params_problems
from django_stripe_portal.endpoint_setup import ENDPOINT_MARKER, EndpointPlan
from django_stripe_portal.events import HANDLED_EVENTS, THIN_V1_PREFIX
from django_stripe_portal.log_redaction import signing_secrets_kept_out_of_logs

DESTINATION_MARKER_VALUE = "event_destination"
NAME = "django-stripe-portal"
DESCRIPTION = "django-stripe-portal: customer portal events, thin"
#: Events of the account itself, and with ``connect`` of the accounts it manages too.
EVENTS_FROM = ["@self"]
CONNECT_EVENTS_FROM = ["@self", "@accounts"]


def is_thin_event_type(name: str) -> bool:
    """Whether the installed stripe library knows ``name`` as a thin event type."""
    return get_v2_event_notification_class(name) is not UnknownEventNotification


def default_thin_events() -> list[str]:
    """The thin twins (``v1.…``) of the snapshot types this app acts on. The granular
    subscription types are left out: ``v1.customer.subscription.updated`` carries every
    change of an update, and each granular one of the same action would be a duplicate."""
    twins = (f"{THIN_V1_PREFIX}{name}" for name in HANDLED_EVENTS)
    return sorted(name for name in twins if is_thin_event_type(name))


def find_own_destination(client: stripe.StripeClient | None = None) -> dict[str, Any] | None:
    """The event destination this app created before (the newest), or None."""
    client = client or get_client()
    page = client.v2.core.event_destinations.list({"include": ["webhook_endpoint.url"]})
    listed = [destination.to_dict() for destination in page.auto_paging_iter()]
    ours = [
        destination
        for destination in listed
        if (destination.get("metadata") or {}).get(ENDPOINT_MARKER) == DESTINATION_MARKER_VALUE
    ]
    return max(ours, key=lambda found: str(found.get("created") or "")) if ours else None


def plan_destination(
    url: str, events: list[str], existing: dict[str, Any] | None, *, connect: bool = False
) -> EndpointPlan:
    """The one request that makes the destination deliver ``events``, thin, to ``url``.
    ``events_from`` (``connect``: the connected accounts' events too) cannot change later;
    a destination that differs there is reported in ``version_mismatch``."""
    events_from = CONNECT_EVENTS_FROM if connect else EVENTS_FROM
    if existing is None:
        params: dict[str, Any] = {
            "name": NAME,
            "description": DESCRIPTION,
            "type": "webhook_endpoint",
            "event_payload": "thin",
            "enabled_events": sorted(events),
            "events_from": events_from,
            "webhook_endpoint": {"url": url},
            "metadata": {ENDPOINT_MARKER: DESTINATION_MARKER_VALUE},
            "include": ["webhook_endpoint.signing_secret", "webhook_endpoint.url"],
        }
        _assert_valid(EventDestinationCreateParams, params)
        return EndpointPlan("create", params)
    changes: dict[str, tuple[Any, Any]] = {}
    current_url = (existing.get("webhook_endpoint") or {}).get("url")
    if current_url != url:
        changes["webhook_endpoint"] = ({"url": current_url}, {"url": url})
    if sorted(existing.get("enabled_events") or []) != sorted(events):
        changes["enabled_events"] = (existing.get("enabled_events"), sorted(events))
    params = {name: new for name, (_, new) in changes.items()}
    if params:
        params["include"] = ["webhook_endpoint.url"]
    scope = sorted(existing.get("events_from") or EVENTS_FROM)
    return EndpointPlan(
        "update" if changes else "unchanged",
        params,
        existing,
        version_mismatch=None
        if scope == sorted(events_from)
        else f"events_from {scope}, not {events_from}",
        changes=changes,
    )


def apply_destination(
    plan: EndpointPlan, client: stripe.StripeClient | None = None
) -> dict[str, Any]:
    """Send the plan's one write; the create answer holds the signing secret."""
    client = client or get_client()
    service = client.v2.core.event_destinations
    if plan.action == "create":
        digest = hashlib.sha256(repr(sorted(plan.params.items())).encode()).hexdigest()[:48]
        options: Any = {"idempotency_key": f"django-stripe-portal-destination-{digest}"}
        with signing_secrets_kept_out_of_logs():
            return service.create(plan.params, options).to_dict()  # type: ignore[arg-type]
    assert plan.endpoint is not None
    if plan.action == "unchanged":
        return plan.endpoint
    return service.update(plan.endpoint["id"], plan.params).to_dict()  # type: ignore[arg-type]


def _assert_valid(params_type: Any, params: dict[str, Any]) -> None:
    problems = params_problems(params_type, params)
    if problems:
        raise ValueError("; ".join(problems))
