"""Accounts v2 customers (an ``acct_…`` standing for the customer), ``after_expiration``
and ``Stripe-Context``: what the click sends (captured at the HTTP layer and checked
against Stripe's schema), what the rows keep, and every helper answering for either kind
of customer."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client, override_settings

from django_stripe_portal import activity
from django_stripe_portal.access import (
    active_subscriptions,
    entitlements,
    has_active_subscription,
    has_entitlement,
)
from django_stripe_portal.checks import check_settings
from django_stripe_portal.customers import link_customer
from django_stripe_portal.models import PortalSession, StripeCustomer, StripeSubscription
from tests import stripe_objects as so
from tests.factories import UserFactory
from tests.portal_support import FakePortalApi
from tests.webhook_support import SECRET, post_signed

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"
CUSTOMER_ACCOUNT = "acct_1CustomerV2000001"
CUSTOMER_OF_ACCOUNT = "cus_ofaccount0001"
SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": [SECRET]}


def portal_settings(**extra: Any) -> Any:
    return override_settings(STRIPE_PORTAL={**SETTINGS, **extra})


@pytest.fixture
def v2_user(client: Client) -> Any:
    user = UserFactory()
    link_customer(user, CUSTOMER_ACCOUNT)
    client.force_login(user)
    return user


def test_link_customer_keeps_an_accounts_v2_customer(v2_user: Any) -> None:
    link = StripeCustomer.objects.get(user=v2_user)
    assert (link.customer_id, link.customer_account, link.account) == (
        CUSTOMER_ACCOUNT,
        CUSTOMER_ACCOUNT,
        "",
    )
    other = UserFactory()
    assert link_customer(other, "cus_plain0001").customer_account == ""


def test_an_account_customer_gets_a_session_with_customer_account(
    client: Client, v2_user: Any, portal_api: FakePortalApi
) -> None:
    with portal_settings():
        response = client.post(PORTAL)

    assert response.status_code == 303
    sent = portal_api.sent()  # validated against Stripe's schema
    assert sent["customer_account"] == CUSTOMER_ACCOUNT
    assert "customer" not in sent
    row = PortalSession.objects.get()
    assert (row.customer_id, row.customer_account, row.user) == (
        CUSTOMER_OF_ACCOUNT,
        CUSTOMER_ACCOUNT,
        v2_user,
    )


def test_a_cus_customer_is_sent_as_customer_and_keeps_no_account(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    with portal_settings():
        assert signed_in.post(PORTAL).status_code == 303
    sent = portal_api.sent()
    assert "customer_account" not in sent
    assert PortalSession.objects.get().customer_account == ""


def test_after_expiration_is_sent_on_every_session(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    body = {"type": "customer_login", "customer_login": {"expires_at": int(time.time()) + 86400}}
    with portal_settings(SESSION_AFTER_EXPIRATION=body):
        signed_in.post(PORTAL)
        signed_in.post(PORTAL, {"flow": "payment_method_update"})
    assert len(portal_api.calls) == 2
    for index in (0, 1):
        sent = portal_api.sent(index)
        assert sent["after_expiration"]["type"] == "customer_login"
        assert (
            int(sent["after_expiration"]["customer_login"]["expires_at"])
            == (body["customer_login"]["expires_at"])
        )


def test_no_after_expiration_by_default(signed_in: Client, portal_api: FakePortalApi) -> None:
    with portal_settings():
        signed_in.post(PORTAL)
    assert "after_expiration" not in portal_api.sent()


def test_stripe_context_is_sent_as_the_header(signed_in: Client, portal_api: FakePortalApi) -> None:
    with portal_settings(STRIPE_CONTEXT="acct_1Organization01"):
        assert signed_in.post(PORTAL).status_code == 303
    request = portal_api.calls[-1].request
    assert request.headers["Stripe-Context"] == "acct_1Organization01"
    assert "Stripe-Account" not in request.headers
    portal_api.sent()


def context_of(request: Any) -> str | None:
    return request.headers.get("X-Context") or None


def test_the_context_resolver_answers_per_request(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    with portal_settings(STRIPE_CONTEXT="acct_1Organization01", CONTEXT_RESOLVER=context_of):
        signed_in.post(PORTAL, HTTP_X_CONTEXT="acct_1Organization01/acct_1Merchant002")
        signed_in.post(PORTAL)  # the resolver answers None: STRIPE_CONTEXT
    headers = [call.request.headers.get("Stripe-Context") for call in portal_api.calls]
    assert headers == ["acct_1Organization01/acct_1Merchant002", "acct_1Organization01"]


def test_no_stripe_context_by_default(signed_in: Client, portal_api: FakePortalApi) -> None:
    with portal_settings():
        signed_in.post(PORTAL)
    assert "Stripe-Context" not in portal_api.calls[-1].request.headers


@pytest.mark.parametrize("bad", ["acct_1\r\nX-Evil: 1", "acct 1", "/acct_1", 7])
def test_a_resolver_context_that_could_break_the_header_sends_nothing(
    signed_in: Client, portal_api: FakePortalApi, bad: Any, caplog: Any
) -> None:
    with portal_settings(CONTEXT_RESOLVER=lambda request: bad):
        response = signed_in.post(PORTAL)
    assert response.status_code == 302  # back, with a message; never a 500
    assert not portal_api.calls
    assert "CONTEXT_RESOLVER" in caplog.text


@pytest.mark.parametrize(
    ("overrides", "check_id", "fragment"),
    [
        ({"SESSION_AFTER_EXPIRATION": {"type": "login"}}, "E020", ".type: 'login' is not one of"),
        ({"SESSION_AFTER_EXPIRATION": "customer_login"}, "E020", "is not a dict"),
        ({"SESSION_AFTER_EXPIRATION": {}}, "E020", ".type: is required"),
        (
            {"SESSION_AFTER_EXPIRATION": {"type": "customer_login", "customer_login": {"x": 1}}},
            "E020",
            "unknown parameter",
        ),
        (
            {
                "SESSION_AFTER_EXPIRATION": {
                    "type": "customer_login",
                    "customer_login": {"expires_at": "tomorrow"},
                }
            },
            "E020",
            "is not an integer",
        ),
        ({"STRIPE_CONTEXT": "acct_1 2"}, "E021", "not a Stripe-Context"),
        ({"STRIPE_CONTEXT": ["acct_1"]}, "E021", "not a Stripe-Context"),
        ({"CONTEXT_RESOLVER": "no.such.module"}, "E006", "CONTEXT_RESOLVER"),
    ],
)
def test_bad_session_settings_are_reported_offline(
    overrides: dict[str, Any], check_id: str, fragment: str
) -> None:
    with portal_settings(**overrides):
        messages = check_settings()
    assert [m.id for m in messages] == [f"stripe_portal.{check_id}"]
    assert fragment in messages[0].msg


def test_good_session_settings_pass() -> None:
    with portal_settings(
        SESSION_AFTER_EXPIRATION={"type": "customer_login"},
        STRIPE_CONTEXT="acct_1Organization01/acct_1Merchant002",
        CONTEXT_RESOLVER=context_of,
    ):
        assert check_settings() == []


def account_subscription(**kwargs: Any) -> dict[str, Any]:
    sub = so.subscription(customer=CUSTOMER_OF_ACCOUNT, **kwargs)
    sub["customer_account"] = CUSTOMER_ACCOUNT
    return sub


def test_webhooks_keep_customer_account_and_every_helper_answers_for_it(
    client: Client, v2_user: Any
) -> None:
    now = int(time.time())
    sub = account_subscription()
    assert (
        post_signed(client, so.event("customer.subscription.created", sub, created=now)).status_code
        == 200
    )
    row = StripeSubscription.objects.get()
    assert (row.customer_id, row.customer_account) == (CUSTOMER_OF_ACCOUNT, CUSTOMER_ACCOUNT)

    with portal_settings():
        assert has_active_subscription(user=v2_user)
        assert has_active_subscription(customer_id=CUSTOMER_ACCOUNT)
        assert has_active_subscription(customer_id=CUSTOMER_OF_ACCOUNT)
        assert list(active_subscriptions(user=v2_user)) == [row]

        # Summaries name the cus_… only: found for the account through the subscription.
        summary = so.entitlements_event(CUSTOMER_OF_ACCOUNT, ["pro-reports"], created=now)
        assert post_signed(client, summary).status_code == 200
        assert entitlements(user=v2_user) == {"pro-reports"}
        assert has_entitlement("pro-reports", customer_id=CUSTOMER_ACCOUNT)
        # Another Accounts v2 customer gets none of it.
        stranger = UserFactory()
        link_customer(stranger, "acct_1SomeoneElse0001")
        assert entitlements(user=stranger) == frozenset()
        assert not has_active_subscription(user=stranger)


def test_a_session_seen_in_a_webhook_keeps_customer_account(client: Client) -> None:
    session = so.portal_session(customer=CUSTOMER_OF_ACCOUNT, customer_account=CUSTOMER_ACCOUNT)
    event = so.event("billing_portal.session.created", session)
    assert post_signed(client, event).status_code == 200
    row = PortalSession.objects.get()
    assert (row.customer_id, row.customer_account) == (CUSTOMER_OF_ACCOUNT, CUSTOMER_ACCOUNT)


def test_at_risk_counts_an_accounts_v2_customer(client: Client, v2_user: Any) -> None:
    sub = account_subscription(cancel_at_period_end=True)
    post_signed(client, so.event("customer.subscription.created", sub))
    (customer,) = activity.customers_at_risk(days=30)
    assert customer.customer_id == CUSTOMER_OF_ACCOUNT
    assert "cancel_scheduled" in customer.reasons


def test_a_subscription_flow_for_an_accounts_v2_customer_is_their_own(
    client: Client, v2_user: Any, portal_api: FakePortalApi
) -> None:
    sub = account_subscription()
    post_signed(client, so.event("customer.subscription.created", sub))
    with portal_settings():
        response = client.post(PORTAL, {"flow": "subscription_cancel", "subscription": sub["id"]})
    assert response.status_code == 303
    assert portal_api.sent()["flow_data"]["subscription_cancel"]["subscription"] == sub["id"]


def test_a_customers_history_is_found_by_either_id(client: Client) -> None:
    session = so.portal_session(customer=CUSTOMER_OF_ACCOUNT, customer_account=CUSTOMER_ACCOUNT)
    post_signed(client, so.event("billing_portal.session.created", session))
    by_account = activity.customer_history(CUSTOMER_ACCOUNT)
    by_customer = activity.customer_history(CUSTOMER_OF_ACCOUNT)
    assert [h.visit.stripe_id for h in by_account] == [session["id"]]
    assert [h.visit.stripe_id for h in by_customer] == [session["id"]]
