"""Connect against the demo's stand-in, through real HTTP: the app sends ``Stripe-Account``
exactly on the merchant's requests (read from the stand-in's request log, both ways),
every request fits Stripe's schema, the merchant's objects stay on the merchant's
account, and its webhooks arrive signed by the Connect endpoint."""

from __future__ import annotations

import io
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import responses
import stripe
from demo.portal_configurations import OFFLINE_PRODUCTS, declared_configurations
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from stripe_standin import StandIn
from stripe_standin.accounts import DEMO_MERCHANT_ACCOUNT as MERCHANT

from django_stripe_portal.customers import link_customer
from django_stripe_portal.models import PortalConfiguration, PortalSession, StripeSubscription
from tests import contract
from tests.example_support import API_KEY, running_standin
from tests.factories import UserFactory

CONNECT_SECRET = "whsec_connecttests"

pytestmark = [pytest.mark.django_db(transaction=True), contract.requires_openapi]


@pytest.fixture
def standin(
    live_server: Any, stripe_mock: responses.RequestsMock, tmp_path: Path
) -> Iterator[StandIn]:
    with running_standin(
        live_server,
        stripe_mock,
        tmp_path,
        connect_secret=CONNECT_SECRET,
        CONNECT_WEBHOOK_SECRETS=[CONNECT_SECRET],
        CONFIGURATIONS=declared_configurations(OFFLINE_PRODUCTS),
        DEFAULT_CONFIGURATION="default",
        RETURN_URL="account",
        ACCOUNT_RESOLVER="demo.connect.merchant_of_request",
        CONNECTED_ACCOUNTS=lambda: [MERCHANT],
    ) as running:
        yield running


@contextmanager
def _then_webhooks(standin: StandIn) -> Iterator[None]:
    """Webhooks held during the block (one shared in-memory database), then delivered."""
    with standin.webhooks.held():
        yield
    assert standin.webhooks.wait_until_idle()


def _stripe(standin: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": standin.url}, max_network_retries=0)


def _sent(standin: StandIn, method: str, path: str) -> list[Any]:
    """The app's requests to ``path``, each checked against Stripe's request schema."""
    found = []
    for request in standin.requests:
        if request.method == method and urllib.parse.urlsplit(request.path).path == path:
            contract.validate_request(request.method, request.path, request.body)
            found.append(request)
    return found


def _sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_portal_configs", *args, stdout=out)
    return out.getvalue()


def _customer(standin: StandIn, user: Any, account: str) -> tuple[str, str]:
    """A customer with a subscription on ``account`` (``""``: the platform), linked."""
    client = _stripe(standin)
    options: Any = {"stripe_account": account} if account else {}
    with _then_webhooks(standin):
        customer = client.v1.customers.create(params={"email": user.email}, options=options)
        link_customer(user, customer.id, account=account or None)
        subscription = client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_demo_basic"}]},
            options=options,
        )
    return customer.id, subscription.id


def test_sync_sends_the_header_on_the_merchants_requests_only(standin: StandIn) -> None:
    with _then_webhooks(standin):
        _sync()
        _sync("--all-accounts")

    lists = _sent(standin, "GET", "/v1/billing_portal/configurations")
    creates = _sent(standin, "POST", "/v1/billing_portal/configurations")
    assert [request.stripe_account for request in lists] == [None, MERCHANT]
    assert [request.stripe_account for request in creates] == [None, MERCHANT]
    rows = {row.account: row.stripe_id for row in PortalConfiguration.objects.all()}
    assert set(rows) == {"", MERCHANT} and rows[""] != rows[MERCHANT]
    # Each account sees its own configuration only.
    client = _stripe(standin)
    platform_ids = {c.id for c in client.v1.billing_portal.configurations.list().data}
    merchant_ids = {
        c.id
        for c in client.v1.billing_portal.configurations.list(
            options={"stripe_account": MERCHANT}
        ).data
    }
    assert rows[""] in platform_ids and rows[""] not in merchant_ids
    assert rows[MERCHANT] in merchant_ids and rows[MERCHANT] not in platform_ids


def test_a_merchants_customer_opens_the_portal_on_the_merchants_account(
    standin: StandIn,
) -> None:
    with _then_webhooks(standin):
        _sync("--all-accounts")
    shopper = UserFactory()
    customer_id, subscription_id = _customer(standin, shopper, MERCHANT)
    # The subscription came by the Connect endpoint's webhook, stored on the merchant.
    stored = StripeSubscription.objects.get(stripe_id=subscription_id)
    assert (stored.account, stored.customer_id) == (MERCHANT, customer_id)

    client = Client()
    client.force_login(shopper)
    with _then_webhooks(standin):
        response = client.post(reverse("stripe_portal:redirect"))

    assert response.status_code == 303
    (request,) = _sent(standin, "POST", "/v1/billing_portal/sessions")
    assert request.stripe_account == MERCHANT
    configuration = PortalConfiguration.objects.get(account=MERCHANT)
    assert f"configuration={configuration.stripe_id}" in request.body
    visit = PortalSession.objects.get()
    assert (visit.account, visit.customer_id, visit.configuration) == (
        MERCHANT,
        customer_id,
        configuration,
    )


def test_a_platform_customer_sends_no_header(standin: StandIn) -> None:
    user = UserFactory()
    _customer(standin, user, "")
    client = Client()
    client.force_login(user)

    with _then_webhooks(standin):
        assert client.post(reverse("stripe_portal:redirect")).status_code == 303

    (request,) = _sent(standin, "POST", "/v1/billing_portal/sessions")
    assert request.stripe_account is None
    assert PortalSession.objects.get().account == ""


def test_the_stand_in_keeps_the_merchants_objects_on_the_merchants_account(
    standin: StandIn,
) -> None:
    client = _stripe(standin)
    on_merchant = client.v1.customers.create(
        params={"email": "shopper@example.com"}, options={"stripe_account": MERCHANT}
    )

    with pytest.raises(stripe.InvalidRequestError, match="No such customer"):
        client.v1.customers.retrieve(on_merchant.id)
    assert client.v1.customers.retrieve(on_merchant.id, options={"stripe_account": MERCHANT})
    with pytest.raises(stripe.PermissionError, match="does not have access"):
        client.v1.customers.create(params={}, options={"stripe_account": "acct_1Unknown000001"})
    (event,) = [
        e
        for e in client.v1.events.list(options={"stripe_account": MERCHANT}).data
        if e.type == "customer.created"
    ]
    assert event.account == MERCHANT
    assert not [e for e in client.v1.events.list().data if e.type == "customer.created"]
