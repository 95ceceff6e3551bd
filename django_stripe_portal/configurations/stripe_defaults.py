"""What Stripe fills in on a portal configuration, and how it applies create/update params.

One table of Stripe's documented defaults (API 2026-10-28.endive), so that the diff, the
test double and the demo's stand-in all agree on what a configuration Stripe answers
looks like; ``features.subscription_pause.duration`` is documented as "Defaults to
``interval_options`` with a single one-month option".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: Every feature as a new configuration has it when the create params leave it out.
FEATURE_DEFAULTS: dict[str, dict[str, Any]] = {
    "customer_update": {"allowed_updates": [], "enabled": False},
    "invoice_history": {"enabled": False},
    "payment_method_update": {"enabled": False, "payment_method_configuration": None},
    "subscription_cancel": {
        "cancellation_reason": {"enabled": False, "options": []},
        "enabled": False,
        "mode": "at_period_end",
        "proration_behavior": "none",
    },
    "subscription_pause": {
        "duration": {
            "interval_options": [{"interval": "month", "interval_count": 1}],
            "type": "interval_options",
        },
        "enabled": False,
    },
    "subscription_update": {
        "billing_cycle_anchor": None,
        "default_allowed_updates": [],
        "enabled": False,
        "products": [],
        "proration_behavior": "none",
        "schedule_at_period_end": {"conditions": []},
        "trial_update_behavior": "end_trial",
    },
}
FEATURE_NAMES = tuple(FEATURE_DEFAULTS)

#: A ``features.subscription_update.products`` entry's quantity setting when not given.
PRODUCT_QUANTITY_DEFAULTS: dict[str, Any] = {"enabled": False, "maximum": None, "minimum": 1}

#: ``login_page.url`` of a test-mode configuration whose login page is on (Stripe makes one).
TEST_LOGIN_PAGE_URL = "https://billing.stripe.com/p/login/test_portal"


def new_configuration(
    params: Mapping[str, Any],
    *,
    configuration_id: str,
    created: int,
    livemode: bool = False,
    account_business_profile: Mapping[str, Any] | None = None,
    login_page_url: str = TEST_LOGIN_PAGE_URL,
) -> dict[str, Any]:
    """The ``billing_portal.configuration`` Stripe answers a create with.

    ``params`` are typed create params (booleans and integers, not form strings);
    ``account_business_profile`` is what Stripe takes from the account's public details
    when ``business_profile`` leaves something out.
    """
    configuration: dict[str, Any] = {
        "id": configuration_id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
            **(account_business_profile or {}),
        },
        "created": created,
        "default_return_url": None,
        "features": copy.deepcopy(FEATURE_DEFAULTS),
        "is_default": False,
        "livemode": livemode,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": created,
    }
    apply_params(configuration, params, login_page_url=login_page_url)
    return configuration


def apply_params(
    target: dict[str, Any],
    params: Mapping[str, Any],
    *,
    login_page_url: str = TEST_LOGIN_PAGE_URL,
) -> None:
    """Apply typed create/update params to a configuration the way Stripe does.

    Objects merge, lists and values replace, ``""`` unsets (an empty list or ``None``),
    metadata keys set to ``""`` are removed, and what Stripe fills in for a product or a
    pause option is filled in.
    """
    _merge(target, params)
    page = target.get("login_page")
    if isinstance(page, dict):
        page["url"] = login_page_url if page.get("enabled") else None


def portal_product(params: Mapping[str, Any]) -> dict[str, Any]:
    """A ``features.subscription_update.products`` entry as Stripe answers it."""
    quantity = dict(PRODUCT_QUANTITY_DEFAULTS)
    quantity.update(params.get("adjustable_quantity") or {})
    return {
        "adjustable_quantity": quantity,
        "prices": list(params["prices"]),
        "product": params["product"],
    }


def _merge(target: dict[str, Any], params: Mapping[str, Any]) -> None:
    for name, value in params.items():
        if name == "expand":
            continue
        if name == "metadata":
            target["metadata"] = _merged_metadata(target.get("metadata"), value)
        elif name == "products":
            target[name] = [] if value == "" else [portal_product(item) for item in value]
        elif name == "interval_options":
            target[name] = [] if value == "" else [{"interval_count": 1, **item} for item in value]
        elif isinstance(value, Mapping):
            current = target.get(name)
            if not isinstance(current, dict):
                current = target[name] = {}
            _merge(current, value)
        elif value == "":
            target[name] = [] if isinstance(target.get(name), list) else None
        else:
            target[name] = copy.deepcopy(value)


def _merged_metadata(current: Any, value: Any) -> dict[str, str]:
    metadata = {} if value == "" else dict(current or {})
    for key, item in (value or {}).items():
        if item == "":
            metadata.pop(key, None)
        else:
            metadata[key] = str(item)
    return metadata
