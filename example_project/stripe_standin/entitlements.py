"""Stripe Entitlements in the stand-in: the demo products carry features, and a change
of plan sends ``entitlements.active_entitlement_summary.updated`` as Stripe does.

Stripe works out a customer's active entitlements from the products of their live
subscriptions and sends a summary whenever that set changes; the stand-in does the same
after every subscription event it emits, and answers
``GET /v1/entitlements/active_entitlements`` (what ``sync_entitlements`` reads).
Simplified: the features are fixed here (on Stripe: ``POST /v1/entitlements/features``
and a product's ``features``).
"""

from __future__ import annotations

from typing import Any

from stripe_standin import objects
from stripe_standin.accounts import acting_account

#: The demo catalogue's features: product id → (lookup key, name) of each feature.
PRODUCT_FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "prod_demo_basic": (("basic-reports", "Basic reports"),),
    "prod_demo_pro": (("basic-reports", "Basic reports"), ("pro-reports", "Pro reports")),
}
#: Subscription statuses that keep a customer's entitlements (Stripe: live subscriptions).
ENTITLED_STATUSES = ("active", "trialing", "past_due")
#: Where the lookup keys last sent per (account, customer) are kept in the state.
SENT = "entitlement_summaries"


def active_lookup_keys(state: Any, customer_id: str) -> list[str]:
    """The features of the products on ``customer_id``'s live subscriptions."""
    keys: set[str] = set()
    for sub in state.all("subscriptions"):
        if sub["customer"] != customer_id or sub["status"] not in ENTITLED_STATUSES:
            continue
        for item in sub["items"]["data"]:
            for key, _ in PRODUCT_FEATURES.get(item["price"]["product"], ()):
                keys.add(key)
    return sorted(keys)


def _entitlement(customer_id: str, lookup_key: str) -> dict[str, Any]:
    return {
        "id": f"ent_standin_{customer_id.removeprefix('cus_')}_{lookup_key.replace('-', '_')}",
        "object": "entitlements.active_entitlement",
        "feature": f"feat_standin_{lookup_key.replace('-', '_')}",
        "livemode": False,
        "lookup_key": lookup_key,
    }


def summary(state: Any, customer_id: str) -> dict[str, Any]:
    """The ``entitlements.active_entitlement_summary`` of ``customer_id`` now."""
    data = [_entitlement(customer_id, key) for key in active_lookup_keys(state, customer_id)]
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer_id,
        "entitlements": objects.stripe_list(f"/v1/customer/{customer_id}/entitlements", data),
        "livemode": False,
    }


def summary_events(state: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary events Stripe would send after ``events``: one per customer whose
    set of features changed (recorded, ready to be delivered)."""
    customers = {
        event["data"]["object"]["customer"]
        for event in events
        if event["type"].startswith("customer.subscription.")
    }
    out = []
    for customer_id in sorted(customers):
        now_keys = active_lookup_keys(state, customer_id)
        key = f"{acting_account()}/{customer_id}"
        with state.changing():
            sent = state.data.setdefault(SENT, {})
            if sent.get(key) == now_keys:
                continue
            sent[key] = now_keys
        event = objects.event(
            "entitlements.active_entitlement_summary.updated", summary(state, customer_id)
        )
        out.append(state.record_event(event))
    return out


def list_active_entitlements(state: Any, customer_id: str, params: dict[str, Any]) -> list[Any]:
    """The rows of ``GET /v1/entitlements/active_entitlements`` for ``customer_id``."""
    state.get("customers", customer_id, param="customer")  # "No such customer" as Stripe
    return [_entitlement(customer_id, key) for key in active_lookup_keys(state, customer_id)]
