"""The fake of Stripe's configuration endpoints refuses what Stripe refuses."""

from __future__ import annotations

from typing import Any

import pytest
import responses
import stripe

from django_stripe_portal.client import get_client
from tests import contract
from tests.fake_stripe_configs import FakeStripeConfigurations


@pytest.fixture(params=["spec", "offline rules"])
def fake(
    request: pytest.FixtureRequest,
    stripe_mock: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> FakeStripeConfigurations:
    """Once with the shared spec, once as where ../shared is absent (the package's rules)."""
    if request.param == "offline rules":
        monkeypatch.setattr("tests.fake_stripe_configs.contract.available", lambda: False)
    elif not contract.available():
        pytest.skip("../shared/stripe-openapi is absent")
    return FakeStripeConfigurations(stripe_mock).install()


@pytest.mark.parametrize(
    "params",
    [
        {"features": {"subscription_cancel": {"enabled": True, "mode": "later"}}},
        {"features": {"invoice_history": {"enabled": True}}, "cancel_flows": {"x": "y"}},
        {"business_profile": {"headline": "x"}},  # features is required
        {
            "features": {
                "subscription_cancel": {"enabled": True, "proration_behavior": "always_invoice"}
            }
        },
    ],
)
def test_a_refused_create_stores_nothing(
    fake: FakeStripeConfigurations, params: dict[str, Any]
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        get_client().v1.billing_portal.configurations.create(params)  # type: ignore[arg-type]
    assert fake.objects == {}


def test_an_idempotency_key_reused_with_other_params_is_refused(
    fake: FakeStripeConfigurations,
) -> None:
    service = get_client().v1.billing_portal.configurations
    options: Any = {"idempotency_key": "same"}
    first = service.create({"features": {"invoice_history": {"enabled": True}}}, options)
    again = service.create({"features": {"invoice_history": {"enabled": True}}}, options)
    assert again.id == first.id
    with pytest.raises(stripe.IdempotencyError):
        service.create({"features": {"invoice_history": {"enabled": False}}}, options)
    assert list(fake.objects) == [first.id]


def test_an_update_breaking_a_described_rule_changes_nothing(
    fake: FakeStripeConfigurations,
) -> None:
    service = get_client().v1.billing_portal.configurations
    created = service.create({"features": {"subscription_cancel": {"enabled": True}}})
    with pytest.raises(stripe.InvalidRequestError):
        service.update(
            created.id,
            {"features": {"subscription_cancel": {"proration_behavior": "create_prorations"}}},
        )
    assert fake.objects[created.id]["features"]["subscription_cancel"]["proration_behavior"] == (
        "none"
    )
