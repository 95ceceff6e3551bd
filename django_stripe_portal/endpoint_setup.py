"""Setting up the account's webhook endpoint for this app: found by its metadata, created
or updated.

Used by ``manage.py setup_stripe_webhook``. Listing and updating endpoints use the
stripe library's ``webhook_endpoints`` service (``GET /v1/webhook_endpoints``,
``POST /v1/webhook_endpoints/{id}``).
"""

from __future__ import annotations

import typing
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import stripe
from stripe.params import WebhookEndpointCreateParams, WebhookEndpointUpdateParams

from django_stripe_portal.client import get_client
from django_stripe_portal.conf import get_settings
from django_stripe_portal.configurations.schema import params_problems
from django_stripe_portal.events import CONNECT_ENDPOINT_EVENTS, HANDLED_EVENTS
from django_stripe_portal.log_redaction import signing_secrets_kept_out_of_logs

# metadata[ENDPOINT_MARKER] = ENDPOINT_MARKER_VALUE marks the endpoint this app made;
# CONNECT_ENDPOINT_MARKER_VALUE its Connect endpoint (connect=true: events of connected
# accounts), which Stripe's endpoint object cannot tell apart otherwise.
ENDPOINT_MARKER = "django_stripe_portal"
ENDPOINT_MARKER_VALUE = "webhook_endpoint"
CONNECT_ENDPOINT_MARKER_VALUE = "connect_webhook_endpoint"
DESCRIPTION = "django-stripe-portal: customer portal events"
CONNECT_DESCRIPTION = "django-stripe-portal: customer portal events of connected accounts"


@dataclass
class EndpointPlan:
    """What ``setup_stripe_webhook`` will do."""

    action: Literal["create", "update", "unchanged"]
    params: dict[str, Any]
    endpoint: dict[str, Any] | None = None
    #: The endpoint renders events in another API version, which Stripe cannot change.
    version_mismatch: str | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def known_event_types() -> frozenset[str]:
    """Every value ``enabled_events`` accepts (from the stripe library's types)."""
    hints = typing.get_type_hints(_EnabledEvents, include_extras=True)
    (literal,) = typing.get_args(hints["enabled_events"])
    return frozenset(typing.get_args(literal))


class _EnabledEvents:
    __annotations__ = {
        "enabled_events": WebhookEndpointCreateParams.__annotations__["enabled_events"]
    }
    __module__ = WebhookEndpointCreateParams.__module__


def unknown_events(events: list[str]) -> list[str]:
    known = known_event_types()
    return [event for event in events if event not in known]


def find_own_endpoint(
    client: stripe.StripeClient | None = None, *, connect: bool = False
) -> dict[str, Any] | None:
    """The endpoint (with ``connect``: the Connect endpoint) this app created before,
    the newest if there are several, or None."""
    client = client or get_client()
    page = client.v1.webhook_endpoints.list({"limit": 100})
    listed = [endpoint.to_dict() for endpoint in page.auto_paging_iter()]
    marker = CONNECT_ENDPOINT_MARKER_VALUE if connect else ENDPOINT_MARKER_VALUE
    ours = [
        endpoint
        for endpoint in listed
        if (endpoint.get("metadata") or {}).get(ENDPOINT_MARKER) == marker
    ]
    return max(ours, key=lambda endpoint: endpoint.get("created") or 0) if ours else None


def plan_endpoint(
    url: str, events: list[str], existing: dict[str, Any] | None, *, connect: bool = False
) -> EndpointPlan:
    """The one request that makes the endpoint what this app needs. A Connect endpoint
    (``connect``) is created with ``connect=true``, which Stripe cannot change later."""
    api_version = get_settings().api_version
    desired: dict[str, Any] = {
        "url": url,
        "enabled_events": sorted(events),
        "description": CONNECT_DESCRIPTION if connect else DESCRIPTION,
        "metadata": {
            ENDPOINT_MARKER: CONNECT_ENDPOINT_MARKER_VALUE if connect else ENDPOINT_MARKER_VALUE
        },
    }
    if existing is None:
        params = {**desired, "api_version": api_version}
        if connect:
            params["connect"] = True
        _assert_valid(WebhookEndpointCreateParams, params)
        return EndpointPlan("create", params)
    changes: dict[str, tuple[Any, Any]] = {}
    if existing.get("url") != url:
        changes["url"] = (existing.get("url"), url)
    if sorted(existing.get("enabled_events") or []) != desired["enabled_events"]:
        changes["enabled_events"] = (existing.get("enabled_events"), desired["enabled_events"])
    if existing.get("status") == "disabled":
        changes["disabled"] = (True, False)
    params = {name: new for name, (_, new) in changes.items()}
    _assert_valid(WebhookEndpointUpdateParams, params)
    rendered = existing.get("api_version") or "the account's default"
    return EndpointPlan(
        "update" if params else "unchanged",
        params,
        existing,
        version_mismatch=rendered if rendered != api_version else None,
        changes=changes,
    )


def apply_endpoint(plan: EndpointPlan, client: stripe.StripeClient | None = None) -> dict[str, Any]:
    """Send the plan's one write; the create answer holds the signing secret."""
    client = client or get_client()
    service = client.v1.webhook_endpoints
    if plan.action == "create":
        # One key per run, reused by the client's retries of this request only. A key
        # derived from the parameters would, within Stripe's 24 hours, replay the answer
        # of an endpoint created and since deleted: its id and secret, and no delivery.
        # A later run finds an endpoint this one created by its metadata instead.
        options: Any = {"idempotency_key": f"django-stripe-portal-webhook-{uuid.uuid4().hex}"}
        with signing_secrets_kept_out_of_logs():
            return service.create(plan.params, options).to_dict()  # type: ignore[arg-type]
    assert plan.endpoint is not None
    if plan.action == "unchanged":
        return plan.endpoint
    return service.update(plan.endpoint["id"], plan.params).to_dict()  # type: ignore[arg-type]


def default_events(*, connect: bool = False) -> list[str]:
    return sorted(CONNECT_ENDPOINT_EVENTS if connect else HANDLED_EVENTS)


def _assert_valid(params_type: Any, params: dict[str, Any]) -> None:
    problems = params_problems(params_type, params)
    if problems:
        raise ValueError("; ".join(problems))
