"""Reading Stripe objects: ids of expandable fields, times, subscription fields.

Pure functions of a payload (an event's ``data.object`` or an object the API
returned): no database, no Stripe call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django_stripe_portal.webhooks.discount_terms import DiscountTerms
from django_stripe_portal.webhooks.run_rate import (
    discounts_carried,
    monthly_amount,
    run_rate_basis,
)

#: The keys of ``cancellation_details`` the app keeps (Stripe's, API 2026-10-28).
CANCELLATION_DETAIL_KEYS = ("reason", "feedback", "feedback_option", "comment")
#: Stripe's limit on a feature's lookup key.
MAX_LOOKUP_KEY = 80


def stripe_time(value: int | float | None) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def id_of(value: Any) -> str:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def customer_account_of(obj: dict[str, Any]) -> str:
    """The Account standing for the customer (Accounts v2), ``""`` for a ``cus_…`` one."""
    value = obj.get("customer_account")
    return value if isinstance(value, str) else ""


def customer_of(obj: dict[str, Any]) -> str:
    """The customer an object belongs to: Stripe's ``customer``, else (an Accounts v2
    customer sent without one) the ``customer_account``."""
    return id_of(obj.get("customer")) or customer_account_of(obj)


def subscription_items(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"id": "si_…", "price": "price_…", "quantity": n}]`` for each item of a payload.

    The item id is kept because the portal's ``subscription_update_confirm`` deep link
    must name the item it changes.
    """
    items = (obj.get("items") or {}).get("data") or []
    return [
        {
            "id": str(item.get("id") or ""),
            "price": id_of(item.get("price")),
            "quantity": item.get("quantity"),
        }
        for item in items
        if isinstance(item, dict)
    ]


def current_period_end(obj: dict[str, Any]) -> datetime | None:
    """Since API 2025-03-31 the period lives on the items; older versions keep it on the
    subscription. The latest item end is the one access should run to."""
    ends: list[int] = [
        int(item["current_period_end"])
        for item in (obj.get("items") or {}).get("data") or []
        if isinstance(item, dict) and item.get("current_period_end")
    ]
    if ends:
        return stripe_time(max(ends))
    return stripe_time(obj.get("current_period_end"))


def cancellation_details_of(obj: dict[str, Any]) -> dict[str, Any]:
    """Stripe's ``reason``, ``feedback``, ``feedback_option`` and ``comment`` (None where
    unset). ``feedback_option`` is the id of a configuration's custom option, whether
    Stripe sent the id or the expanded ``billing.feedback_option``."""
    details = obj.get("cancellation_details")
    if not isinstance(details, dict):
        details = {}
    values = {key: details.get(key) for key in CANCELLATION_DETAIL_KEYS}
    if values["feedback_option"] is not None:
        values["feedback_option"] = id_of(values["feedback_option"]) or None
    return values


def pause_collection_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """Stripe's ``pause_collection`` (``behavior``, ``resumes_at``), None when not paused."""
    pause = obj.get("pause_collection")
    if not isinstance(pause, dict):
        return None
    return {"behavior": pause.get("behavior"), "resumes_at": pause.get("resumes_at")}


def subscription_values(
    obj: dict[str, Any],
    *,
    at: int | None = None,
    known: Mapping[str, DiscountTerms] | None = None,
    run_rate: bool = True,
) -> dict[str, Any]:
    """The ``StripeSubscription`` fields a subscription payload sets; the run rate is the
    one at Unix time ``at`` (default: now), ``known`` the terms of discounts the payload
    names by id only (``webhooks.run_rate``). ``run_rate=False`` leaves the run-rate
    fields out (a caller that has them already)."""
    details = obj.get("cancellation_details") or {}
    kept = cancellation_details_of(obj)
    return {
        "customer_id": customer_of(obj),
        "customer_account": customer_account_of(obj),
        "status": str(obj.get("status") or ""),
        "items": subscription_items(obj),
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": stripe_time(obj.get("cancel_at")),
        "canceled_at": stripe_time(obj.get("canceled_at")),
        "current_period_end": current_period_end(obj),
        "cancellation_details": {
            key: kept[key]
            for key in CANCELLATION_DETAIL_KEYS
            if isinstance(details, dict) and key in details
        },
        "pause_collection": pause_collection_of(obj),
        "livemode": bool(obj.get("livemode")),
        **(run_rate_values(obj, at=at, known=known) if run_rate else {}),
    }


def run_rate_values(
    obj: dict[str, Any],
    *,
    at: int | None = None,
    known: Mapping[str, DiscountTerms] | None = None,
) -> dict[str, Any]:
    """``currency``, ``monthly_amount`` and ``run_rate_basis`` of a subscription payload."""
    basis = run_rate_basis(obj)
    terms = {**(known or {}), **discounts_carried(obj)}
    when = int(time.time()) if at is None else at
    return {
        "currency": str(basis["currency"])[:3],
        "monthly_amount": monthly_amount(basis, terms, at=when),
        "run_rate_basis": basis,
    }


def discount_coupon_of(obj: dict[str, Any]) -> str:
    """The coupon a ``discount`` was made from (``source.coupon``, id or expanded), or ""."""
    source = obj.get("source")
    if not isinstance(source, dict):
        return ""
    return id_of(source.get("coupon"))


def summary_customer(summary: dict[str, Any]) -> str:
    """The summary's ``customer`` (Stripe names a ``cus_…`` only), checked to be Stripe's;
    raises ValueError for a payload no Stripe summary has."""
    customer = summary["customer"]
    if not isinstance(customer, str) or not 0 < len(customer) <= 255:
        raise ValueError("customer is not a customer id")
    return customer


def listed_lookup_keys(summary: dict[str, Any]) -> tuple[list[str], bool]:
    """The lookup keys the summary's own list holds, and whether it says ``has_more``;
    raises ValueError for a list that is not Stripe's."""
    listing = summary["entitlements"]
    if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
        raise ValueError("entitlements is not a list object")
    keys = [_lookup_key(entitlement) for entitlement in listing["data"]]
    return keys, listing.get("has_more") is True


def _lookup_key(entitlement: Any) -> str:
    key = entitlement["lookup_key"] if isinstance(entitlement, dict) else None
    if not isinstance(key, str) or not 0 < len(key) <= MAX_LOOKUP_KEY:
        raise ValueError("an entitlement's lookup_key is not Stripe's")
    return key
