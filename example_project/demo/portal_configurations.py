"""The example's declared portal configuration, built in one place for its settings
and for the tests that run the app against the demo's Stripe stand-in."""

from __future__ import annotations

from typing import Any

#: The stand-in's catalogue (see stripe_standin/state.py): product → prices.
OFFLINE_PRODUCTS: dict[str, list[str]] = {
    "prod_demo_basic": ["price_demo_basic"],
    "prod_demo_pro": ["price_demo_pro", "price_demo_pro_yearly"],
}


#: The stand-in's custom cancellation reasons (stripe_standin/churn.py) and the coupon
#: the offline demo offers before a cancellation.
OFFLINE_FEEDBACK_OPTIONS = ["bfo_demo_setup", "bfo_demo_team"]
OFFLINE_RETENTION_COUPON = "DEMO_STAY25"


def declared_configurations(
    products: dict[str, list[str]], feedback_options: list[str] | None = None
) -> dict[str, Any]:
    """``STRIPE_PORTAL['CONFIGURATIONS']``: plan switching only where products are known,
    custom cancellation reasons only where the account has them."""
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
    if feedback_options:
        reasons = features["subscription_cancel"]["cancellation_reason"]
        reasons["feedback_options"] = list(feedback_options)
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
