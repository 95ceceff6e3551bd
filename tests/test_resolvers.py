"""``django_stripe_portal.resolvers``: the several-subscriptions example, through the view."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from django_stripe_portal.models import PortalSession
from django_stripe_portal.resolvers import (
    PAYMENT_METHODS_ONLY,
    payment_methods_only_for_several_subscriptions,
)
from tests.factories import PortalConfigurationFactory, StripeSubscriptionFactory
from tests.portal_support import CUSTOMER_ID, FakePortalApi

pytestmark = pytest.mark.django_db
TEST_SETTINGS: dict[str, Any] = {
    "API_KEY": "sk_test_tests",
    "WEBHOOK_SECRETS": ["whsec_tests"],
    "CONFIGURATIONS": {
        "default": {"features": {"invoice_history": {"enabled": True}}},
        PAYMENT_METHODS_ONLY: {"features": {"payment_method_update": {"enabled": True}}},
    },
    "DEFAULT_CONFIGURATION": "default",
    "CONFIGURATION_RESOLVER": (
        "django_stripe_portal.resolvers.payment_methods_only_for_several_subscriptions"
    ),
}


@pytest.fixture(autouse=True)
def synced() -> None:
    PortalConfigurationFactory(key="default", stripe_id="bpc_default00001")
    PortalConfigurationFactory(key=PAYMENT_METHODS_ONLY, stripe_id="bpc_pmonly000001")


@pytest.mark.parametrize(
    ("statuses", "configuration"),
    [
        ((), "bpc_default00001"),
        (("active",), "bpc_default00001"),
        (("active", "canceled", "past_due"), "bpc_default00001"),
        (("active", "trialing"), "bpc_pmonly000001"),
        (("active", "active", "active"), "bpc_pmonly000001"),
    ],
)
def test_configuration_follows_the_number_of_active_subscriptions(
    signed_in: Client, portal_api: FakePortalApi, statuses: tuple[str, ...], configuration: str
) -> None:
    for status in statuses:
        StripeSubscriptionFactory(customer_id=CUSTOMER_ID, status=status)
    StripeSubscriptionFactory(customer_id="cus_someoneelse", status="active")

    with override_settings(STRIPE_PORTAL=TEST_SETTINGS):
        signed_in.post("/billing/portal/")

    assert portal_api.sent()["configuration"] == configuration
    assert PortalSession.objects.get().configuration.stripe_id == configuration  # type: ignore[union-attr]


def test_resolver_is_one_query(django_assert_num_queries: Any) -> None:
    StripeSubscriptionFactory.create_batch(3, customer_id=CUSTOMER_ID, status="active")

    with django_assert_num_queries(1):
        answer = payment_methods_only_for_several_subscriptions(None, CUSTOMER_ID)  # type: ignore[arg-type]

    assert answer == PAYMENT_METHODS_ONLY
