"""The app against the demo's Stripe stand-in, in this process, through real HTTP.

What the browser test shows end to end, checked here piece by piece and faster: the
requests the app itself sends (``sync_portal_configs``, the redirect view's portal
sessions and deep links) fit Stripe's schema, and the stand-in's signed webhooks reach
the app's endpoint, get stored once and linked to the visit they came from.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
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

from django_stripe_portal.customers import link_customer
from django_stripe_portal.models import (
    PortalConfiguration,
    PortalSession,
    StripeSubscription,
    WebhookEvent,
)
from tests import contract
from tests.example_support import API_KEY, running_standin
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), contract.requires_openapi]


@pytest.fixture
def standin(
    live_server: Any, stripe_mock: responses.RequestsMock, tmp_path: Path
) -> Iterator[StandIn]:
    with running_standin(
        live_server,
        stripe_mock,
        tmp_path,
        CONFIGURATIONS=declared_configurations(OFFLINE_PRODUCTS),
        DEFAULT_CONFIGURATION="default",
        RETURN_URL="account",
    ) as running:
        yield running


@contextmanager
def _then_webhooks(standin: StandIn) -> Iterator[None]:
    """Run the block with webhooks held, then deliver what it caused and wait for them.

    The in-memory test database is one connection shared with the live server's
    thread: a webhook handled while this thread writes or reads could see (or roll
    back) half of its work. Since the stand-in sends ``billing_portal.session.created``
    on every portal session, that includes each redirect.
    """
    with standin.webhooks.held():
        yield
    assert standin.webhooks.wait_until_idle()


def _stripe(standin: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})


def _assert_requests_fit_stripes_schema(standin: StandIn) -> list[str]:
    """Every API call the stand-in received, checked against Stripe's request schema."""
    checked = []
    for request in standin.requests:
        path = urllib.parse.urlsplit(request.path).path
        if path.startswith(("/v1/billing_portal/", "/v1/customers")):
            contract.validate_request(request.method, request.path, request.body)
            checked.append(f"{request.method} {path}")
    return checked


def _portal_post(url: str, form: dict[str, str]) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


@pytest.fixture
def subscribed(standin: StandIn) -> tuple[Client, str, str]:
    """A signed-in user whose customer and subscription reached the app by webhook."""
    stripe_client = _stripe(standin)
    with _then_webhooks(standin):
        user = UserFactory()
        customer = stripe_client.v1.customers.create(params={"email": user.email})
        link_customer(user, customer.id)
        subscription = stripe_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_demo_basic"}]}
        )
    client = Client()
    client.force_login(user)
    return client, customer.id, subscription.id


def test_sync_portal_configs_creates_the_example_configuration_in_the_stand_in(
    standin: StandIn,
) -> None:
    with _then_webhooks(standin):
        call_command("sync_portal_configs", stdout=io.StringIO())
        call_command("sync_portal_configs", "--check", stdout=io.StringIO())

    (stored,) = PortalConfiguration.objects.filter(key="default")
    remote = standin.state.get("configurations", stored.stripe_id)
    assert remote["features"]["subscription_cancel"]["cancellation_reason"]["options"] == [
        "too_expensive",
        "missing_features",
        "unused",
        "other",
    ]
    assert remote["features"]["subscription_update"]["products"][1]["product"] == "prod_demo_pro"
    assert "POST /v1/billing_portal/configurations" in _assert_requests_fit_stripes_schema(standin)


def test_subscription_created_in_stripe_arrives_by_webhook(
    subscribed: tuple[Client, str, str],
) -> None:
    _, customer_id, subscription_id = subscribed
    row = StripeSubscription.objects.get(stripe_id=subscription_id)
    assert (row.customer_id, row.status) == (customer_id, "active")
    assert row.items[0]["price"] == "price_demo_basic"
    assert WebhookEvent.objects.filter(type="customer.subscription.created").count() == 1


def test_cancel_in_the_portal_is_recorded_and_linked_to_the_visit(
    standin: StandIn, subscribed: tuple[Client, str, str]
) -> None:
    client, customer_id, subscription_id = subscribed
    with _then_webhooks(standin):
        call_command("sync_portal_configs", stdout=io.StringIO())
    with _then_webhooks(standin):
        answer = client.post(
            reverse("stripe_portal:redirect"),
            {"flow": "subscription_cancel", "subscription": subscription_id},
        )
    assert answer.status_code == 303
    portal_url = answer["Location"]
    assert portal_url.startswith(f"{standin.url}/p/session/")
    # The stand-in's page answers once its webhooks were delivered: no race with this thread.
    status, back = _portal_post(
        portal_url, {"action": "cancel", "subscription": subscription_id, "reason": "unused"}
    )
    assert status == 303
    returned = client.get(urllib.parse.urlsplit(back).path)

    assert returned.status_code == 302 and returned["Location"] == reverse("account")
    visit = PortalSession.objects.get()
    assert visit.customer_id == customer_id and visit.flow_type == "subscription_cancel"
    assert visit.returned_at is not None
    assert visit.configuration is not None and visit.configuration.key == "default"
    (change,) = WebhookEvent.objects.filter(portal_session=visit)
    assert (change.type, change.change_kind) == (
        "customer.subscription.updated",
        "cancel_scheduled",
    )
    row = StripeSubscription.objects.get(stripe_id=subscription_id)
    assert row.cancel_at_period_end and row.cancellation_details["feedback"] == "unused"
    assert "POST /v1/billing_portal/sessions" in _assert_requests_fit_stripes_schema(standin)


@pytest.mark.parametrize("flow", ["payment_method_update", "subscription_update", ""])
def test_every_deep_link_opens_a_session_stripe_would_accept(
    standin: StandIn, subscribed: tuple[Client, str, str], flow: str
) -> None:
    client, _, subscription_id = subscribed
    form = {"flow": flow} if flow else {}
    if flow == "subscription_update":
        form["subscription"] = subscription_id

    with _then_webhooks(standin):
        answer = client.post(reverse("stripe_portal:redirect"), form)

    assert answer.status_code == 303, answer.content
    assert answer["Location"].startswith(f"{standin.url}/p/session/")
    assert PortalSession.objects.get().flow_type == flow
    assert WebhookEvent.objects.filter(type="billing_portal.session.created").count() == 1
    _assert_requests_fit_stripes_schema(standin)
