"""Connect, state and access per account: the helpers, the guard, the links, the activity
command, the admin filter and the settings check."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from django_stripe_portal.access import active_subscriptions, has_active_subscription
from django_stripe_portal.checks import check_settings
from django_stripe_portal.customers import link_customer, linked_customer
from django_stripe_portal.guards import subscription_states
from django_stripe_portal.resolvers import payment_methods_only_for_several_subscriptions
from tests.factories import (
    PortalSessionFactory,
    StripeCustomerFactory,
    StripeSubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
MERCHANT = "acct_1MerchantA0001"
SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


def request_for(user: Any) -> Any:
    request = RequestFactory().get("/")
    request.user = user
    return request


def on_merchant(**extra: Any) -> Any:
    return override_settings(
        STRIPE_PORTAL={**SETTINGS, "ACCOUNT_RESOLVER": lambda request: MERCHANT, **extra}
    )


def test_link_customer_keeps_one_link_per_account() -> None:
    user = UserFactory()
    link_customer(user, "cus_platform01")
    link_customer(user, "cus_merchant01", MERCHANT)
    link_customer(user, "cus_merchant02", MERCHANT)  # replaces the merchant link only

    links = dict(user.stripe_customers.values_list("account", "customer_id"))
    assert links == {"": "cus_platform01", MERCHANT: "cus_merchant02"}
    request = request_for(user)
    assert linked_customer(request) == "cus_platform01"
    with on_merchant():
        assert linked_customer(request_for(user)) == "cus_merchant02"


@pytest.mark.parametrize("bad", ["cus_x", "acct_", "acct_a b"])
def test_link_customer_refuses_a_bad_account(bad: str) -> None:
    with pytest.raises(ValueError, match="acct_"):
        link_customer(UserFactory(), "cus_platform01", bad)


def test_the_helpers_answer_for_one_account_at_a_time() -> None:
    user = UserFactory()
    StripeCustomerFactory(user=user, customer_id="cus_shared01")
    StripeCustomerFactory(user=user, customer_id="cus_shared01", account=MERCHANT)
    on_platform = StripeSubscriptionFactory(customer_id="cus_shared01", status="canceled")
    on_merchant_account = StripeSubscriptionFactory(
        customer_id="cus_shared01", status="active", account=MERCHANT
    )

    assert not has_active_subscription(user=user)
    assert not has_active_subscription(customer_id="cus_shared01")
    assert list(active_subscriptions(user=user, account=MERCHANT)) == [on_merchant_account]
    assert has_active_subscription(customer_id="cus_shared01", account=MERCHANT)
    with on_merchant():
        assert has_active_subscription(user=user, request=request_for(user))
        # An explicit account wins over the request's.
        assert not has_active_subscription(user=user, account="", request=request_for(user))
    assert on_platform.account == ""
    with pytest.raises(ValueError, match="acct_"):
        has_active_subscription(user=user, account="cus_notanaccount")


def test_the_guard_reads_the_requests_account_only() -> None:
    StripeSubscriptionFactory(customer_id="cus_shared01", status="past_due")
    StripeSubscriptionFactory(customer_id="cus_shared01", status="active", account=MERCHANT)
    guard = {"GUARD_URLS": {"past_due": "/pay/"}}
    request = request_for(UserFactory())

    with override_settings(STRIPE_PORTAL={**SETTINGS, **guard}):
        assert subscription_states(request, "cus_shared01") == "/pay/"
    with on_merchant(**guard):
        assert subscription_states(request_for(UserFactory()), "cus_shared01") is None


def test_the_ready_made_configuration_resolver_counts_on_the_account() -> None:
    for _ in range(2):
        StripeSubscriptionFactory(customer_id="cus_shared01", status="active", account=MERCHANT)

    assert payment_methods_only_for_several_subscriptions(request_for(None), "cus_shared01") is None
    with on_merchant():
        answer = payment_methods_only_for_several_subscriptions(request_for(None), "cus_shared01")
    assert answer == "payment_methods_only"


def activity(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("portal_activity", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_portal_activity_per_account() -> None:
    PortalSessionFactory(customer_id="cus_p1")
    PortalSessionFactory(customer_id="cus_m1", account=MERCHANT)
    PortalSessionFactory(customer_id="cus_m2", account=MERCHANT)

    assert activity()["summary"]["visits"] == 3
    merchant = activity("--account", MERCHANT)
    assert (merchant["range"]["account"], merchant["summary"]["unique_customers"]) == (MERCHANT, 2)
    platform = activity("--account", "platform")
    assert (platform["range"]["account"], platform["summary"]["visits"]) == ("", 1)
    with pytest.raises(CommandError, match="acct_"):
        activity("--account", "cus_m1")


def test_the_admin_filters_by_account(admin_client: Client) -> None:
    platform = StripeSubscriptionFactory()
    merchant = StripeSubscriptionFactory(account=MERCHANT)
    other = StripeSubscriptionFactory(account="acct_1Other0000002")
    url = reverse("admin:django_stripe_portal_stripesubscription_changelist")

    def listed(value: str) -> set[int]:
        response = admin_client.get(url, {"account": value})
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("platform") == {platform.pk}
    assert listed("connected") == {merchant.pk, other.pk}
    assert listed(MERCHANT) == {merchant.pk}
    for model in ("portalsession", "webhookevent", "stripecustomer", "portalconfiguration"):
        page = admin_client.get(
            reverse(f"admin:django_stripe_portal_{model}_changelist"), {"account": "platform"}
        )
        assert page.status_code == 200


@pytest.mark.parametrize(
    ("connect_secrets", "check_id", "fragment"),
    [
        ("whsec_abc", "stripe_portal.E012", "must be a list"),
        (["sk_test_nope"], "stripe_portal.E012", "CONNECT_WEBHOOK_SECRETS'][0]"),
        (["whsec_tests"], "stripe_portal.W013", "in both"),
    ],
)
def test_connect_secrets_are_checked(connect_secrets: Any, check_id: str, fragment: str) -> None:
    with override_settings(STRIPE_PORTAL={**SETTINGS, "CONNECT_WEBHOOK_SECRETS": connect_secrets}):
        messages = check_settings()

    assert [message.id for message in messages] == [check_id]
    assert fragment in messages[0].msg


def test_good_connect_settings_pass() -> None:
    with override_settings(
        STRIPE_PORTAL={**SETTINGS, "CONNECT_WEBHOOK_SECRETS": ["whsec_connect1"]}
    ):
        assert check_settings() == []
