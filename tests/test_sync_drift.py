"""configuration_drifted: the webhook handler's offline drift flag."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_stripe_portal.configurations.declare import MARKER_KEY
from django_stripe_portal.configurations.drift import configuration_drifted
from tests import stripe_objects

DECLARED: dict[str, Any] = {
    "business_profile": {"headline": "Manage your subscription"},
    "features": {
        "invoice_history": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
        },
    },
}


def _portal_settings(**configurations: Any) -> dict[str, Any]:
    return {"API_KEY": "sk_test_tests", "CONFIGURATIONS": configurations}


def _matching_object(key: str = "default") -> dict[str, Any]:
    """Stripe's example configuration, holding exactly what DECLARED says."""
    obj = stripe_objects.portal_configuration(metadata={MARKER_KEY: key})
    obj["business_profile"]["headline"] = "Manage your subscription"
    features = obj["features"]
    features["customer_update"]["enabled"] = False
    features["invoice_history"]["enabled"] = True
    features["subscription_cancel"].update(
        enabled=True,
        mode="at_period_end",
        cancellation_reason={"enabled": True, "options": ["other", "too_expensive"]},
    )
    return obj


@override_settings(STRIPE_PORTAL=_portal_settings(default=DECLARED))
def test_an_unchanged_configuration_has_not_drifted() -> None:
    assert configuration_drifted(_matching_object()) is False


@override_settings(STRIPE_PORTAL=_portal_settings(default=DECLARED))
@pytest.mark.parametrize(
    "change",
    [
        lambda obj: obj["business_profile"].update(headline="Changed in the Dashboard"),
        lambda obj: obj["features"]["subscription_cancel"].update(mode="immediately"),
        lambda obj: obj["features"]["subscription_cancel"]["cancellation_reason"].update(
            options=["other"]
        ),
        # A feature the declaration leaves out is off; turning it on is drift.
        lambda obj: obj["features"]["customer_update"].update(enabled=True),
    ],
)
def test_a_dashboard_edit_is_drift(change: Any) -> None:
    obj = _matching_object()
    change(obj)
    assert configuration_drifted(obj) is True


@override_settings(STRIPE_PORTAL=_portal_settings(default=DECLARED))
def test_configurations_the_app_did_not_create_never_drift() -> None:
    obj = _matching_object()
    obj["metadata"] = {}
    obj["business_profile"]["headline"] = "Someone else's"
    assert configuration_drifted(obj) is False


@override_settings(STRIPE_PORTAL=_portal_settings(default=DECLARED))
def test_keys_no_longer_declared_are_not_drift() -> None:
    obj = _matching_object(key="retired")
    obj["business_profile"]["headline"] = "Anything"
    assert configuration_drifted(obj) is False


@override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_tests", "CONFIGURATIONS": ["default"]})
def test_an_ill_formed_setting_is_not_drift_and_does_not_raise() -> None:
    assert configuration_drifted(_matching_object()) is False


@override_settings(STRIPE_PORTAL=_portal_settings(default=DECLARED))
def test_an_object_missing_fields_does_not_raise() -> None:
    assert configuration_drifted({"id": "bpc_1", "metadata": {MARKER_KEY: "default"}}) is True
