"""Access by feature against the demo's Stripe stand-in, through real HTTP: its products
carry features, a new subscription and a plan change in its portal send the entitlement
summaries (signed, in Stripe's shapes: the autouse contract check reads every event the
webhook view accepts), and ``sync_entitlements`` reads its list as Stripe's."""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
import stripe
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from stripe_standin import StandIn

from django_stripe_portal.access import entitlements
from django_stripe_portal.customers import link_customer
from django_stripe_portal.models import ActiveEntitlements, WebhookEvent
from django_stripe_portal.signals import entitlements_changed
from tests import contract
from tests.example_support import API_KEY, running_standin
from tests.factories import UserFactory
from tests.webhook_support import Recorder, connected

pytestmark = [pytest.mark.django_db(transaction=True), contract.requires_openapi]
SUMMARY = "entitlements.active_entitlement_summary.updated"


@pytest.fixture
def standin(
    live_server: Any, stripe_mock: responses.RequestsMock, tmp_path: Path
) -> Iterator[StandIn]:
    with running_standin(live_server, stripe_mock, tmp_path, RETURN_URL="account") as running:
        yield running


def _subscribe(standin: StandIn, price: str) -> tuple[Any, str, str]:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": standin.url})
    with standin.webhooks.held():
        user = UserFactory()
        customer = client.v1.customers.create(params={"email": user.email})
        subscription = client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price}]}
        )
    assert standin.webhooks.wait_until_idle()
    return user, customer.id, subscription.id


def test_a_new_subscription_brings_its_products_features(standin: StandIn) -> None:
    user, customer_id, _ = _subscribe(standin, "price_demo_basic")
    # Kept before any user is linked; found once linked.
    assert ActiveEntitlements.objects.get(customer_id=customer_id).lookup_keys == ["basic-reports"]
    assert entitlements(user=user) == frozenset()
    link_customer(user, customer_id)
    assert entitlements(user=user) == {"basic-reports"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_a_plan_change_in_the_portal_sends_the_new_summary(standin: StandIn) -> None:
    user, customer_id, subscription_id = _subscribe(standin, "price_demo_basic")
    link_customer(user, customer_id)
    client = Client()
    client.force_login(user)
    with standin.webhooks.held():
        answer = client.post(
            reverse("stripe_portal:redirect"),
            {"flow": "subscription_update", "subscription": subscription_id},
        )
    assert standin.webhooks.wait_until_idle()
    assert answer.status_code == 303
    recorder = Recorder()
    form = {"action": "switch", "subscription": subscription_id, "price": "price_demo_pro"}
    with connected(entitlements_changed, recorder):
        request = urllib.request.Request(
            answer["Location"], data=urllib.parse.urlencode(form).encode()
        )
        # The stand-in answers (a redirect back to the site, not followed) once its
        # webhooks were delivered.
        with pytest.raises(urllib.error.HTTPError) as back:
            urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
        assert back.value.code == 303
        assert standin.webhooks.wait_until_idle()

    assert entitlements(user=user) == {"basic-reports", "pro-reports"}
    (change,) = recorder.calls
    assert (change["customer_id"], change["added"], change["removed"]) == (
        customer_id,
        {"pro-reports"},
        frozenset(),
    )
    assert WebhookEvent.objects.filter(type=SUMMARY, status="processed").count() == 2


def test_sync_entitlements_reads_the_stand_ins_list(standin: StandIn) -> None:
    user, customer_id, _ = _subscribe(standin, "price_demo_pro")
    link_customer(user, customer_id)
    ActiveEntitlements.objects.all().delete()

    out = io.StringIO()
    call_command("sync_entitlements", stdout=out, stderr=io.StringIO())

    assert entitlements(user=user) == {"basic-reports", "pro-reports"}
    assert "1 customer(s) written (2 feature(s) in all)" in out.getvalue()
    listed = [r for r in standin.requests if r.path.startswith("/v1/entitlements/")]
    assert listed
    for request in listed:
        contract.validate_request(request.method, request.path, request.body)
