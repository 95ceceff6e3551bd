"""Real-shaped Stripe objects and events for tests.

Built from Stripe's own example objects (tests/fixtures/stripe_objects.json),
deep-copied and adjusted per test, so payloads keep every field Stripe sends.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stripe_objects.json"
API_VERSION = "2026-10-28.endive"

_ids = itertools.count(1)


@cache
def _resources() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]  # type: ignore[no-any-return]


def unique_id(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):06d}"


def resource(object_type: str, **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``object_type`` with top-level ``overrides``."""
    obj = copy.deepcopy(_resources()[object_type])
    obj.update(overrides)
    return obj


def subscription_item(
    price: str = "price_basic", quantity: int = 1, **overrides: Any
) -> dict[str, Any]:
    base = copy.deepcopy(_resources()["subscription"]["items"]["data"][0])
    base["id"] = unique_id("si")
    base["price"]["id"] = price
    base["quantity"] = quantity
    base.update(overrides)
    return base


def subscription(
    *,
    id: str | None = None,
    customer: str = "cus_test",
    status: str = "active",
    items: list[tuple[str, int]] | None = None,
    cancel_at_period_end: bool = False,
    cancel_at: int | None = None,
    canceled_at: int | None = None,
    cancellation_details: dict[str, Any] | None = None,
    current_period_end: int | None = None,
    livemode: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """A subscription as Stripe sends it in ``customer.subscription.*`` events."""
    sub_id = id or unique_id("sub")
    period_end = current_period_end or int(time.time()) + 30 * 86400
    data = [
        subscription_item(price, qty, subscription=sub_id, current_period_end=period_end)
        for price, qty in (items or [("price_basic", 1)])
    ]
    obj = resource(
        "subscription",
        id=sub_id,
        customer=customer,
        status=status,
        cancel_at_period_end=cancel_at_period_end,
        cancel_at=cancel_at,
        canceled_at=canceled_at,
        ended_at=None,
        livemode=livemode,
        cancellation_details={
            "comment": None,
            "feedback": None,
            "reason": None,
            **(cancellation_details or {}),
        },
    )
    obj["items"]["data"] = data
    obj["items"]["url"] = f"/v1/subscription_items?subscription={sub_id}"
    obj.update(overrides)
    return obj


def customer(*, id: str = "cus_test", **overrides: Any) -> dict[str, Any]:
    return resource("customer", id=id, **overrides)


def portal_session(
    *, id: str | None = None, customer: str = "cus_test", url: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A ``billing_portal.session`` as ``POST /v1/billing_portal/sessions`` answers it."""
    sess_id = id or unique_id("bps")
    return resource(
        "billing_portal.session",
        id=sess_id,
        customer=customer,
        url=url or f"https://billing.stripe.com/p/session/test_{sess_id}",
        livemode=False,
        created=int(time.time()),
        flow=None,
        configuration="bpc_default",
        **overrides,
    )


def portal_configuration(*, id: str | None = None, **overrides: Any) -> dict[str, Any]:
    return resource("billing_portal.configuration", id=id or unique_id("bpc"), **overrides)


def payment_method(
    *, id: str | None = None, customer: str | None = "cus_test", created: int | None = None
) -> dict[str, Any]:
    """A card ``payment_method`` as ``payment_method.attached`` carries it.

    Stripe's example objects hold none, so it is built here field by field; a contract
    test checks it against the schema.
    """
    return {
        "id": id or unique_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "always",
        "billing_details": {
            "address": {
                "city": None,
                "country": "DE",
                "line1": None,
                "line2": None,
                "postal_code": "10115",
                "state": None,
            },
            "email": "jenny.rosen@example.com",
            "name": "Jenny Rosen",
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": "visa",
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": "pass",
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": "visa",
            "exp_month": 8,
            "exp_year": 2030,
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "credit",
            "generated_from": None,
            "last4": "4242",
            "networks": {"available": ["visa"], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created or int(time.time()),
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    id: str | None = None,
    created: int | None = None,
    livemode: bool = False,
    api_version: str = API_VERSION,
) -> dict[str, Any]:
    """A webhook event envelope exactly as Stripe delivers it."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": id or unique_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created or int(time.time()),
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": unique_id("req"), "idempotency_key": None},
        "type": event_type,
    }


def feedback_option(
    *, id: str | None = None, description: str = "Too hard to set up"
) -> dict[str, Any]:
    """A ``billing.feedback_option`` (a configuration's custom cancellation reason), built
    field by field from the schema (Stripe's example objects hold none)."""
    return {
        "id": id or unique_id("bfo"),
        "object": "billing.feedback_option",
        "description": description,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
    }


def discount(
    *,
    customer: str = "cus_test",
    subscription: str | None = None,
    coupon: str | None = "WINBACK25",
    id: str | None = None,
    start: int | None = None,
) -> dict[str, Any]:
    """A ``discount`` as ``customer.discount.created`` carries it: since API 2025-09-30
    the coupon is ``source.coupon`` (an id), next to the ``subscription`` it applies to."""
    return {
        "id": id or unique_id("di"),
        "object": "discount",
        "checkout_session": None,
        "customer": customer,
        "customer_account": None,
        "end": None,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"type": "coupon", "coupon": coupon},
        "start": start or int(time.time()),
        "subscription": subscription,
        "subscription_item": None,
    }


def active_entitlement(lookup_key: str, *, livemode: bool = False) -> dict[str, Any]:
    """An ``entitlements.active_entitlement`` as Stripe lists it (feature not expanded)."""
    return {
        "id": unique_id("ent"),
        "object": "entitlements.active_entitlement",
        "feature": unique_id("feat"),
        "livemode": livemode,
        "lookup_key": lookup_key,
    }


def entitlement_summary(
    customer: str, lookup_keys: list[str], *, has_more: bool = False, livemode: bool = False
) -> dict[str, Any]:
    """The ``data.object`` of ``entitlements.active_entitlement_summary.updated``."""
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer,
        "entitlements": {
            "object": "list",
            "data": [active_entitlement(key, livemode=livemode) for key in lookup_keys],
            "has_more": has_more,
            "url": f"/v1/customer/{customer}/entitlements",
        },
        "livemode": livemode,
    }


def entitlements_event(
    customer: str, lookup_keys: list[str], *, has_more: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """A summary event as Stripe delivers it (``request`` null: Stripe made the change)."""
    summary = entitlement_summary(customer, lookup_keys, has_more=has_more)
    event_body = event("entitlements.active_entitlement_summary.updated", summary, **kwargs)
    event_body["request"] = {"id": None, "idempotency_key": None}
    return event_body


def active_entitlements_page(lookup_keys: list[str], *, has_more: bool = False) -> dict[str, Any]:
    """One page of ``GET /v1/entitlements/active_entitlements``."""
    return {
        "object": "list",
        "data": [active_entitlement(key) for key in lookup_keys],
        "has_more": has_more,
        "url": "/v1/entitlements/active_entitlements",
    }
