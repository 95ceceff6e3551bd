"""The example's declared portal configuration, built in one place for its settings
and for the tests that run the app against the demo's Stripe stand-in."""

from __future__ import annotations

from typing import Any

#: The stand-in's catalogue (see stripe_standin/state.py): product → prices.
OFFLINE_PRODUCTS: dict[str, list[str]] = {
    "prod_demo_basic": ["price_demo_basic"],
    "prod_demo_pro": ["price_demo_pro"],
}


def declared_configurations(products: dict[str, list[str]]) -> dict[str, Any]:
    """``STRIPE_PORTAL['CONFIGURATIONS']``: plan switching only where products are known."""
    features: dict[str, Any] = {
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {
                "enabled": True,
                "options": ["too_expensive", "missing_features", "unused", "other"],
            },
        },
    }
    if products:
        features["subscription_update"] = {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "proration_behavior": "create_prorations",
            "products": [
                {"product": product, "prices": prices} for product, prices in products.items()
            ],
        }
    return {
        "default": {
            "business_profile": {"headline": "Example SaaS: manage your subscription"},
            "features": features,
        },
    }
