"""Connect, webhook side: which secret may sign which event, the account on every row an
event writes, one subscription never under two accounts, and deauthorization."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory, override_settings

from django_stripe_portal.access import has_active_subscription
from django_stripe_portal.models import (
    PortalSession,
    StripeSubscription,
    WebhookEvent,
)
from tests import stripe_objects as so
from tests.factories import PortalConfigurationFactory, StripeCustomerFactory, UserFactory
from tests.portal_support import FakePortalApi
from tests.webhook_support import SECRET, post_signed

pytestmark = pytest.mark.django_db
MERCHANT = "acct_1MerchantA0001"
CONNECT_SECRET = "whsec_connecttests"
SETTINGS: dict[str, Any] = {
    "API_KEY": "sk_test_tests",
    "WEBHOOK_SECRETS": [SECRET],
    "CONNECT_WEBHOOK_SECRETS": [CONNECT_SECRET],
}


@pytest.fixture(autouse=True)
def _connect_settings() -> Any:
    with override_settings(STRIPE_PORTAL=SETTINGS):
        yield


def connect_event(event_type: str, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    event = so.event(event_type, obj, **kwargs)
    event["account"] = MERCHANT
    return event


def subscription_event(
    customer: str = "cus_merchant01", *, account: str | None = MERCHANT, **kwargs: Any
) -> dict[str, Any]:
    sub = so.subscription(customer=customer, **kwargs)
    event = so.event("customer.subscription.created", sub)
    if account:
        event["account"] = account
    return event


def test_a_connect_event_signed_by_the_connect_endpoint_writes_the_accounts_row(
    client: Client,
) -> None:
    event = subscription_event()

    response = post_signed(client, event, CONNECT_SECRET)

    assert response.status_code == 200, response.content
    row = StripeSubscription.objects.get()
    assert (row.account, row.customer_id) == (MERCHANT, "cus_merchant01")
    assert WebhookEvent.objects.get().account == MERCHANT


def test_a_platform_event_signed_by_the_platform_endpoint_is_a_platform_row(
    client: Client,
) -> None:
    response = post_signed(client, subscription_event(account=None), SECRET)

    assert response.status_code == 200
    assert StripeSubscription.objects.get().account == ""


def test_a_connect_event_signed_with_the_platform_secret_is_refused(client: Client) -> None:
    response = post_signed(client, subscription_event(), SECRET)

    assert response.status_code == 400
    assert b"Connect" in response.content
    assert WebhookEvent.objects.count() == 0
    assert StripeSubscription.objects.count() == 0


def test_a_platform_event_signed_with_a_connect_secret_is_refused(client: Client) -> None:
    response = post_signed(client, subscription_event(account=None), CONNECT_SECRET)

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0
    assert StripeSubscription.objects.count() == 0


def test_connect_events_are_accepted_without_platform_secrets(client: Client) -> None:
    with override_settings(STRIPE_PORTAL={**SETTINGS, "WEBHOOK_SECRETS": []}):
        assert post_signed(client, subscription_event(), CONNECT_SECRET).status_code == 200
        assert (
            post_signed(client, subscription_event(account=None), CONNECT_SECRET).status_code == 400
        )
    assert WebhookEvent.objects.count() == 1


def test_without_connect_secrets_every_connect_event_is_refused(client: Client) -> None:
    with override_settings(STRIPE_PORTAL={**SETTINGS, "CONNECT_WEBHOOK_SECRETS": []}):
        assert post_signed(client, subscription_event(), SECRET).status_code == 400
        assert post_signed(client, subscription_event(), CONNECT_SECRET).status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_the_same_subscription_id_never_appears_under_two_accounts(client: Client) -> None:
    platform = subscription_event(account=None, id="sub_shared0001", status="active")
    assert post_signed(client, platform, SECRET).status_code == 200
    # A (validly signed) Connect event naming the same subscription, newer, canceling it.
    later = connect_event(
        "customer.subscription.updated",
        so.subscription(id="sub_shared0001", customer="cus_test", status="canceled"),
        created=platform["created"] + 60,
    )

    response = post_signed(client, later, CONNECT_SECRET)

    assert response.status_code == 500  # stored as failed, for a person to look at
    rows = list(StripeSubscription.objects.filter(stripe_id="sub_shared0001"))
    assert [(row.account, row.status) for row in rows] == [("", "active")]
    failed = WebhookEvent.objects.get(stripe_id=later["id"])
    assert failed.status == WebhookEvent.Status.FAILED
    assert "stored for the platform" in failed.last_error
    assert MERCHANT in failed.last_error


def test_a_connected_subscription_is_not_taken_over_by_a_platform_event(client: Client) -> None:
    first = subscription_event(id="sub_shared0002")
    assert post_signed(client, first, CONNECT_SECRET).status_code == 200
    platform = so.event(
        "customer.subscription.updated",
        so.subscription(id="sub_shared0002", customer="cus_merchant01", status="past_due"),
        created=first["created"] + 60,
    )

    assert post_signed(client, platform, SECRET).status_code == 500

    row = StripeSubscription.objects.get(stripe_id="sub_shared0002")
    assert (row.account, row.status) == (MERCHANT, "active")


def test_a_session_seen_in_a_connect_event_is_stored_on_that_account(client: Client) -> None:
    mine = PortalConfigurationFactory(key="default", stripe_id="bpc_merchantconf", account=MERCHANT)
    session = so.portal_session(customer="cus_merchant01")
    session["configuration"] = "bpc_merchantconf"

    response = post_signed(
        client, connect_event("billing_portal.session.created", session), CONNECT_SECRET
    )

    assert response.status_code == 200
    row = PortalSession.objects.get()
    assert (row.account, row.configuration, row.source) == (MERCHANT, mine, "webhook")


def _application_event(event_type: str, created: int) -> dict[str, Any]:
    application = {"id": "ca_platformapp01", "object": "application", "name": "The platform"}
    return connect_event(event_type, application, created=created)


def test_deauthorization_ends_access_on_that_account_but_keeps_the_rows(
    client: Client, portal_api: FakePortalApi
) -> None:
    user = UserFactory()
    StripeCustomerFactory(user=user, customer_id="cus_merchant01", account=MERCHANT)
    StripeCustomerFactory(user=user, customer_id="cus_platform01")
    now = int(time.time())
    post_signed(client, subscription_event(created=now - 100), CONNECT_SECRET)
    post_signed(client, subscription_event("cus_platform01", account=None), SECRET)
    assert has_active_subscription(user=user, account=MERCHANT)

    response = post_signed(
        client, _application_event("account.application.deauthorized", now - 50), CONNECT_SECRET
    )

    assert response.status_code == 200
    assert WebhookEvent.objects.get(type="account.application.deauthorized").status == "processed"
    assert StripeSubscription.objects.filter(account=MERCHANT).count() == 1  # kept
    assert not has_active_subscription(user=user, account=MERCHANT)
    assert has_active_subscription(user=user, account="")  # the platform is untouched

    client.force_login(user)
    with override_settings(
        STRIPE_PORTAL={**SETTINGS, "ACCOUNT_RESOLVER": lambda request: MERCHANT}
    ):
        refused = client.post("/billing/portal/", HTTP_ACCEPT="application/json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "account_disconnected"
    assert portal_api.calls == []

    # Connected again: access comes back with the kept rows.
    post_signed(
        client, _application_event("account.application.authorized", now - 10), CONNECT_SECRET
    )
    assert has_active_subscription(user=user, account=MERCHANT)


def test_the_template_filter_answers_for_the_requests_account(client: Client) -> None:
    user = UserFactory()
    StripeCustomerFactory(user=user, customer_id="cus_merchant01", account=MERCHANT)
    post_signed(client, subscription_event(), CONNECT_SECRET)
    request = RequestFactory().get("/")
    request.user = user

    def render(source: str) -> str:
        return Template("{% load stripe_portal %}" + source).render(
            Context({"request": request, "user": user})
        )

    with override_settings(
        STRIPE_PORTAL={**SETTINGS, "ACCOUNT_RESOLVER": lambda request: MERCHANT}
    ):
        assert render("{{ request|has_active_subscription }}") == "True"
        assert render("{{ user|has_active_subscription:request }}") == "True"
        # A user alone is asked about the platform, where this user has nothing.
        assert render("{{ user|has_active_subscription }}") == "False"
        assert render("{{ user|has_active_subscription:'' }}") == "False"
    assert render(f"{{{{ user|has_active_subscription:'{MERCHANT}' }}}}") == "True"


def test_one_secret_in_both_lists_accepts_both_kinds_as_stripe_listen_needs(
    client: Client,
) -> None:
    # `stripe listen` signs platform and Connect events with its one secret (check W013).
    with override_settings(STRIPE_PORTAL={**SETTINGS, "CONNECT_WEBHOOK_SECRETS": [SECRET]}):
        assert post_signed(client, subscription_event(), SECRET).status_code == 200
        assert post_signed(client, subscription_event(account=None), SECRET).status_code == 200
    assert sorted(StripeSubscription.objects.values_list("account", flat=True)) == ["", MERCHANT]
