"""Connect, click side: a portal session for a connected account's customer (direct
charges, ``Stripe-Account``), for a platform customer on behalf of an account
(``on_behalf_of``), and the resolvers' bad answers (a clear error, never a request)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from django_stripe_portal.models import PortalSession
from django_stripe_portal.portal.accounts import resolve_account
from django_stripe_portal.portal.return_links import read_return_key
from tests.factories import (
    PortalConfigurationFactory,
    StripeCustomerFactory,
    StripeSubscriptionFactory,
    UserFactory,
)
from tests.portal_support import FakePortalApi

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"
MERCHANT = "acct_1MerchantA0001"
OTHER_MERCHANT = "acct_1MerchantB0002"
PLATFORM_CUSTOMER = "cus_platform0001"
MERCHANT_CUSTOMER = "cus_merchantA0001"
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


def merchant_of(request: Any) -> str | None:
    """A test ACCOUNT_RESOLVER: the merchant named by the ``X-Merchant`` header."""
    return request.headers.get("X-Merchant") or None


def connect_settings(**extra: Any) -> Any:
    return override_settings(
        STRIPE_PORTAL={**TEST_SETTINGS, "ACCOUNT_RESOLVER": merchant_of, **extra}
    )


@pytest.fixture
def two_customer_user(client: Client) -> Any:
    """One user who is a platform customer and a customer of MERCHANT."""
    user = UserFactory()
    StripeCustomerFactory(user=user, customer_id=PLATFORM_CUSTOMER)
    StripeCustomerFactory(user=user, customer_id=MERCHANT_CUSTOMER, account=MERCHANT)
    client.force_login(user)
    return user


def stripe_account_header(api: FakePortalApi, index: int = -1) -> str | None:
    value = api.calls[index].request.headers.get("Stripe-Account")
    return None if value is None else str(value)


def test_a_merchants_customer_gets_a_session_on_the_merchants_account(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    merchant_config = PortalConfigurationFactory(
        key="default", stripe_id="bpc_onmerchantA", account=MERCHANT
    )
    PortalConfigurationFactory(key="default", stripe_id="bpc_onplatform")

    with connect_settings(DEFAULT_CONFIGURATION="default"):
        response = client.post(PORTAL, HTTP_X_MERCHANT=MERCHANT)

    assert response.status_code == 303
    assert stripe_account_header(portal_api) == MERCHANT
    sent = portal_api.sent()  # validated against Stripe's schema
    assert sent["customer"] == MERCHANT_CUSTOMER
    # The configuration synced on that account, not the platform's of the same key.
    assert sent["configuration"] == "bpc_onmerchantA"
    assert "on_behalf_of" not in sent
    row = PortalSession.objects.get()
    assert (row.account, row.customer_id, row.configuration) == (
        MERCHANT,
        MERCHANT_CUSTOMER,
        merchant_config,
    )


def test_the_same_user_without_a_merchant_is_the_platform_customer(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    PortalConfigurationFactory(key="default", stripe_id="bpc_onmerchantA", account=MERCHANT)
    PortalConfigurationFactory(key="default", stripe_id="bpc_onplatform")

    with connect_settings(DEFAULT_CONFIGURATION="default"):
        client.post(PORTAL)

    assert stripe_account_header(portal_api) is None
    sent = portal_api.sent()
    assert (sent["customer"], sent["configuration"]) == (PLATFORM_CUSTOMER, "bpc_onplatform")
    assert PortalSession.objects.get().account == ""


def test_without_connect_settings_no_request_carries_the_header(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    signed_in.post(PORTAL, HTTP_X_MERCHANT=MERCHANT)

    assert stripe_account_header(portal_api) is None


def test_the_return_link_of_a_merchants_session_works_as_before(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    with connect_settings():
        client.post(PORTAL, {"return_to": "/account/"}, HTTP_X_MERCHANT=MERCHANT)
    return_url = portal_api.sent()["return_url"]
    token = return_url.rstrip("/").rsplit("/", 1)[1]
    assert read_return_key(token) == PortalSession.objects.get().return_key

    response = client.get(return_url)

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert PortalSession.objects.get().returned_at is not None


def test_a_user_with_no_link_on_that_merchant_has_no_customer_there(
    client: Client, portal_api: FakePortalApi
) -> None:
    user = StripeCustomerFactory(customer_id=PLATFORM_CUSTOMER).user
    client.force_login(user)

    with connect_settings():
        response = client.post(PORTAL, HTTP_X_MERCHANT=OTHER_MERCHANT)

    assert response.status_code == 404
    assert portal_api.calls == []


def test_a_subscription_of_another_account_is_refused_in_a_deep_link(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    # Same customer id, other account: not this customer's subscription.
    StripeSubscriptionFactory(
        stripe_id="sub_onmerchantB", customer_id=MERCHANT_CUSTOMER, account=OTHER_MERCHANT
    )

    with connect_settings():
        response = client.post(
            PORTAL,
            {"flow": "subscription_cancel", "subscription": "sub_onmerchantB"},
            HTTP_X_MERCHANT=MERCHANT,
            HTTP_ACCEPT="application/json",
        )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "foreign_subscription"
    assert portal_api.calls == []


def test_on_behalf_of_is_sent_for_a_platform_customer(
    signed_in: Client, portal_api: FakePortalApi, customer_link: Any
) -> None:
    seen: list[str] = []

    def on_behalf_of(request: Any, customer_id: str) -> str:
        seen.append(customer_id)
        return MERCHANT

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "ON_BEHALF_OF_RESOLVER": on_behalf_of}):
        response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert seen == [customer_link.customer_id]
    assert portal_api.sent()["on_behalf_of"] == MERCHANT
    # Destination charges: the customer is the platform's, so no Stripe-Account.
    assert stripe_account_header(portal_api) is None
    assert PortalSession.objects.get().account == ""


def test_on_behalf_of_none_sends_no_parameter(signed_in: Client, portal_api: FakePortalApi) -> None:
    with override_settings(
        STRIPE_PORTAL={**TEST_SETTINGS, "ON_BEHALF_OF_RESOLVER": lambda request, customer: None}
    ):
        signed_in.post(PORTAL)

    assert "on_behalf_of" not in portal_api.sent()


def test_resolvers_are_read_from_dotted_paths(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    with override_settings(
        STRIPE_PORTAL={
            **TEST_SETTINGS,
            "ACCOUNT_RESOLVER": "tests.test_connect_sessions.merchant_of",
        }
    ):
        client.post(PORTAL, HTTP_X_MERCHANT=MERCHANT)

    assert stripe_account_header(portal_api) == MERCHANT


BAD_ANSWERS = [
    "cus_notanaccount",
    "acct_",
    "acct_with space",
    " acct_1MerchantA0001",
    "acct_1MerchantA0001\n",
    "ACCT_1MERCHANT",
    123,
    ["acct_1MerchantA0001"],
    {"id": "acct_1MerchantA0001"},
    True,
]


@pytest.mark.parametrize("answer", BAD_ANSWERS)
@pytest.mark.parametrize("setting", ["ACCOUNT_RESOLVER", "ON_BEHALF_OF_RESOLVER"])
def test_a_bad_resolver_answer_is_a_clear_error_and_no_request(
    signed_in: Client,
    portal_api: FakePortalApi,
    caplog: pytest.LogCaptureFixture,
    setting: str,
    answer: Any,
) -> None:
    resolver = (
        (lambda request: answer)
        if setting == "ACCOUNT_RESOLVER"
        else (lambda request, customer_id: answer)
    )

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, setting: resolver}):
        with caplog.at_level(logging.ERROR, logger="django_stripe_portal.views"):
            response = signed_in.post(PORTAL, HTTP_ACCEPT="application/json")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "account_resolver_error"
    assert portal_api.calls == []
    assert PortalSession.objects.count() == 0
    logged = caplog.text
    assert f"STRIPE_PORTAL['{setting}']" in logged
    assert "acct_…" in logged


def test_a_bad_resolver_answer_in_a_browser_goes_back_with_a_message(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    with override_settings(
        STRIPE_PORTAL={**TEST_SETTINGS, "ACCOUNT_RESOLVER": lambda request: "cus_oops"}
    ):
        response = signed_in.post(PORTAL, {"return_to": "/account/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert portal_api.calls == []


def test_on_behalf_of_together_with_a_connected_account_is_refused(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    with connect_settings(ON_BEHALF_OF_RESOLVER=lambda request, customer_id: OTHER_MERCHANT):
        response = client.post(PORTAL, HTTP_X_MERCHANT=MERCHANT, HTTP_ACCEPT="application/json")

    assert response.status_code == 500
    assert portal_api.calls == []


def test_the_account_is_resolved_once_per_request(rf: Any) -> None:
    calls: list[Any] = []

    def counting(request: Any) -> str:
        calls.append(request)
        return MERCHANT

    request = rf.get("/")
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "ACCOUNT_RESOLVER": counting}):
        assert resolve_account(request) == MERCHANT
        assert resolve_account(request) == MERCHANT
    assert len(calls) == 1


def test_the_fixed_retention_coupon_is_the_platforms_only(
    client: Client, two_customer_user: Any, portal_api: FakePortalApi
) -> None:
    """A coupon lives on one account: RETENTION_COUPON is offered to platform customers;
    a merchant's customer gets no offer unless RETENTION_RESOLVER names that account's."""
    StripeSubscriptionFactory(stripe_id="sub_onmerchant", customer_id=MERCHANT_CUSTOMER,
                              account=MERCHANT)  # fmt: skip
    StripeSubscriptionFactory(stripe_id="sub_onplatform", customer_id=PLATFORM_CUSTOMER)
    cancel = {"flow": "subscription_cancel"}
    with connect_settings(RETENTION_COUPON="STAY25"):
        client.post(PORTAL, {**cancel, "subscription": "sub_onmerchant"}, HTTP_X_MERCHANT=MERCHANT)
        merchant_flow = portal_api.sent()["flow_data"]["subscription_cancel"]
        client.post(PORTAL, {**cancel, "subscription": "sub_onplatform"})
        platform_flow = portal_api.sent()["flow_data"]["subscription_cancel"]
    assert "retention" not in merchant_flow
    assert platform_flow["retention"] == {
        "type": "coupon_offer",
        "coupon_offer": {"coupon": "STAY25"},
    }
    offered = dict(PortalSession.objects.values_list("account", "retention_coupon"))
    assert offered == {MERCHANT: "", "": "STAY25"}
