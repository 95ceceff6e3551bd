"""The offline demo's Stripe stand-in answers like Stripe and sends what Stripe would send.

Every object it returns or delivers is checked against Stripe's schema
(tests/contract.py, strict: no field Stripe does not have); every portal action
must deliver a webhook whose signature Stripe's own SDK verifies.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
import stripe

from tests import contract

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "example_project"
if str(EXAMPLE_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DIR))

from stripe_standin import StandIn, start_standin  # noqa: E402

SECRET = "whsec_standintests"
RETURN_URL = "http://127.0.0.1:9/account/"


@dataclass
class Received:
    """Webhook deliveries the capture endpoint got: (Stripe-Signature header, raw body)."""

    deliveries: list[tuple[str, bytes]] = field(default_factory=list)
    answer_status: int = 200

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]


@pytest.fixture
def webhook_endpoint() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Capture(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if received.answer_status == 200:
                received.deliveries.append((self.headers["Stripe-Signature"], body))
            self.send_response(received.answer_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/billing/webhook/", received
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def standin(
    webhook_endpoint: tuple[str, Received], stripe_mock: responses.RequestsMock, tmp_path: Path
) -> Iterator[StandIn]:
    running = start_standin(
        port=0,
        webhook_url=webhook_endpoint[0],
        webhook_secret=SECRET,
        state_path=tmp_path / "standin.json",
    )
    stripe_mock.add_passthru(running.url)
    yield running
    running.stop()


@pytest.fixture
def client(standin: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_offlinedemo", base_addresses={"api": standin.url}, max_network_retries=0
    )


def _raw(
    standin: StandIn,
    method: str,
    path: str,
    data: dict[str, str] | None = None,
    key: str = "sk_test_offlinedemo",
) -> tuple[int, dict[str, Any]]:
    body = urllib.parse.urlencode(data or {}).encode() if method == "POST" else None
    request = urllib.request.Request(
        standin.url + path, data=body, method=method, headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _customer_with_subscription(client: stripe.StripeClient) -> tuple[str, str]:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    price = client.v1.prices.list(params={"lookup_keys": ["demo_basic_monthly"]}).data[0]
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    return customer.id, sub.id


def _portal_post(url: str, form: dict[str, str]) -> tuple[int, str | None, str]:
    """POST a portal-page form; returns (status, Location, body) without following."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, None, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location"), exc.read().decode()


def _verified(received: Received) -> list[dict[str, Any]]:
    """Each delivery's signature checked by Stripe's SDK, then its body checked by the schema."""
    events = []
    for header, body in received.deliveries:
        stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)
        event = json.loads(body)
        contract.validate_object("event", event, strict=True)
        events.append(event)
    return events


# --- API answers ----------------------------------------------------------------------


@contract.requires_openapi
def test_customer_catalogue_and_subscription_are_shaped_like_stripes(
    standin: StandIn, client: stripe.StripeClient
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)

    for path, schema in [
        (f"/v1/customers/{customer_id}", "customer"),
        (f"/v1/subscriptions/{sub_id}", "subscription"),
        ("/v1/products/prod_demo_pro", "product"),
        ("/v1/prices/price_demo_pro", "price"),
    ]:
        status, body = _raw(standin, "GET", path)
        assert status == 200, body
        contract.validate_object(schema, body, strict=True)
    status, listed = _raw(standin, "GET", f"/v1/subscriptions?customer={customer_id}")
    assert [sub["id"] for sub in listed["data"]] == [sub_id]
    assert listed["data"][0]["items"]["data"][0]["price"]["id"] == "price_demo_basic"


@contract.requires_openapi
def test_configurations_create_update_and_list_like_stripe(
    standin: StandIn, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    created = client.v1.billing_portal.configurations.create(
        params={
            "business_profile": {"headline": "Manage your plan"},
            "features": {
                "invoice_history": {"enabled": True},
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "at_period_end",
                    "cancellation_reason": {"enabled": True, "options": ["too_expensive"]},
                },
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [
                        {"product": "prod_demo_basic", "prices": ["price_demo_basic"]},
                        {
                            "product": "prod_demo_pro",
                            "prices": ["price_demo_pro"],
                            "adjustable_quantity": {"enabled": True, "maximum": 10},
                        },
                    ],
                },
            },
            "metadata": {"managed_by": "tests"},
        }
    )
    updated = client.v1.billing_portal.configurations.update(
        created.id, params={"business_profile": {"headline": "Changed"}, "active": False}
    )
    listed = client.v1.billing_portal.configurations.list(params={"active": False})

    for request in standin.requests:
        contract.validate_request(request.method, request.path, request.body)
    for obj in (created, updated):
        contract.validate_object("billing_portal.configuration", obj.to_dict(), strict=True)
    assert created.features.subscription_cancel.cancellation_reason.options == ["too_expensive"]
    assert created.features.subscription_cancel.enabled is True
    assert updated.business_profile.headline == "Changed"
    assert updated.active is False
    assert updated.features.invoice_history.enabled is True  # untouched by the update
    # Stripe fills in what the request left out of each product.
    products = created.features.subscription_update.products
    assert [product.adjustable_quantity.to_dict() for product in products] == [
        {"enabled": False, "maximum": None, "minimum": 1},
        {"enabled": True, "maximum": 10, "minimum": 1},
    ]
    assert [config.id for config in listed.data] == [created.id]

    standin.webhooks.stop()  # drains the queue
    events = _verified(webhook_endpoint[1])
    assert [event["type"] for event in events] == [
        "billing_portal.configuration.created",
        "billing_portal.configuration.updated",
    ]
    assert events[1]["data"]["previous_attributes"]["active"] is True


@contract.requires_openapi
def test_portal_session_is_shaped_like_stripes_and_its_url_opens_the_portal_page(
    standin: StandIn, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)

    session = client.v1.billing_portal.sessions.create(
        params={
            "customer": customer_id,
            "return_url": RETURN_URL,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": sub_id},
                "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN_URL}},
            },
        }
    )

    contract.validate_request("POST", "/v1/billing_portal/sessions", standin.requests[-1].body)
    contract.validate_object("billing_portal.session", session.to_dict(), strict=True)
    assert session.flow.type == "subscription_cancel"
    assert session.flow.subscription_cancel.subscription == sub_id
    assert session.url.startswith(standin.url + "/p/session/")
    page = urllib.request.urlopen(session.url, timeout=10).read().decode()
    assert "Cancel plan" in page and "Switch plan" not in page  # the flow shows only its step
    assert "stand-in" in page
    stored = json.loads((standin.state.path or Path()).read_text())
    assert session.url not in json.dumps(stored), "the session URL is a credential: never kept"
    standin.webhooks.stop()  # drains the queue
    (announced,) = [
        event
        for event in _verified(webhook_endpoint[1])
        if event["type"] == "billing_portal.session.created"
    ]
    # Delivered like Stripe's (URL included; the app redacts it when it stores the event).
    assert announced["data"]["object"] == session.to_dict()


def test_refusals_are_stripes_error_envelope(standin: StandIn, client: stripe.StripeClient) -> None:
    customer_id, _ = _customer_with_subscription(client)
    _, other_sub = _customer_with_subscription(client)

    unknown = _raw(
        standin,
        "POST",
        "/v1/billing_portal/sessions",
        {"customer": customer_id, "cancel_flows": "1"},
    )
    missing = _raw(standin, "POST", "/v1/billing_portal/sessions", {"customer": "cus_nobody"})
    not_theirs = _raw(
        standin,
        "POST",
        "/v1/billing_portal/sessions",
        {
            "customer": customer_id,
            "flow_data[type]": "subscription_cancel",
            "flow_data[subscription_cancel][subscription]": other_sub,
        },
    )
    live_key = _raw(
        standin, "GET", "/v1/customers", key="sk_live_" + "x"
    )  # a live-mode key, never a real one
    no_route = _raw(standin, "GET", "/v1/charges")

    assert unknown[0] == 400 and unknown[1]["error"]["code"] == "parameter_unknown"
    assert missing[0] == 400 and missing[1]["error"]["code"] == "resource_missing"
    assert not_theirs[0] == 404
    assert live_key[0] == 401
    assert no_route[0] == 404
    for _, body in (unknown, missing, not_theirs, live_key, no_route):
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["message"]


def test_state_survives_a_restart(tmp_path: Path, stripe_mock: responses.RequestsMock) -> None:
    first = start_standin(port=0, state_path=tmp_path / "state.json")
    stripe_mock.add_passthru(first.url)
    status, customer = _raw(first, "POST", "/v1/customers", {"email": "kept@example.com"})
    first.stop()

    second = start_standin(port=0, state_path=tmp_path / "state.json")
    try:
        status, again = _raw(second, "GET", f"/v1/customers/{customer['id']}")
    finally:
        second.stop()
    assert status == 200 and again["email"] == "kept@example.com"


def test_same_idempotency_key_gives_the_same_object_once(standin: StandIn) -> None:
    def create() -> dict[str, Any]:
        request = urllib.request.Request(
            standin.url + "/v1/customers",
            data=b"email=once%40example.com",
            method="POST",
            headers={"Authorization": "Bearer sk_test_x", "Idempotency-Key": "retry-1"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    assert create()["id"] == create()["id"]
    assert len(standin.state.data["customers"]) == 1


# --- the portal page --------------------------------------------------------------------


def _session_url(client: stripe.StripeClient, customer_id: str, **params: Any) -> str:
    session = client.v1.billing_portal.sessions.create(
        params={"customer": customer_id, "return_url": RETURN_URL, **params}
    )
    return str(session.url)


@contract.requires_openapi
def test_cancel_with_reason_sends_a_signed_update_then_returns(
    standin: StandIn, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)
    url = _session_url(client, customer_id)

    status, location, _ = _portal_post(
        url,
        {
            "action": "cancel",
            "subscription": sub_id,
            "reason": "too_expensive",
            "comment": "pricey",
        },
    )

    assert (status, location) == (303, RETURN_URL)
    # The portal waits for its own deliveries, and they come after the earlier ones.
    types = [event["type"] for event in _verified(webhook_endpoint[1])]
    assert types == [
        "customer.created",
        "customer.subscription.created",
        # The Basic product's feature: Stripe summarizes the customer's entitlements.
        "entitlements.active_entitlement_summary.updated",
        "billing_portal.session.created",
        # A cancellation at period end keeps the features: no new summary.
        "customer.subscription.updated",
    ]
    event = _verified(webhook_endpoint[1])[-1]
    sub = event["data"]["object"]
    contract.validate_object("subscription", sub, strict=True)
    assert sub["cancel_at_period_end"] is True
    assert sub["cancel_at"] == sub["items"]["data"][0]["current_period_end"]
    assert sub["cancellation_details"] == {
        "comment": "pricey",
        "feedback": "too_expensive",
        "feedback_option": None,
        "reason": "cancellation_requested",
    }
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert standin.state.get("subscriptions", sub_id)["cancel_at_period_end"] is True


@contract.requires_openapi
def test_switch_plan_and_update_card_send_what_stripe_sends(
    standin: StandIn, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)
    url = _session_url(client, customer_id)

    switched = _portal_post(
        url, {"action": "switch", "subscription": sub_id, "price": "price_demo_pro"}
    )
    carded = _portal_post(url, {"action": "card", "card_number": "4000 0566 5566 5556"})

    assert switched[:2] == (303, RETURN_URL) and carded[:2] == (303, RETURN_URL)
    events = {event["type"]: event for event in _verified(webhook_endpoint[1])}
    update = events["customer.subscription.updated"]["data"]
    assert update["object"]["items"]["data"][0]["price"]["id"] == "price_demo_pro"
    assert update["previous_attributes"]["items"]["data"][0]["price"]["id"] == "price_demo_basic"
    card = events["payment_method.attached"]["data"]["object"]
    contract.validate_object("payment_method", card, strict=True)
    assert card["customer"] == customer_id and card["card"]["last4"] == "5556"
    customer = events["customer.updated"]["data"]
    contract.validate_object("customer", customer["object"], strict=True)
    assert customer["object"]["invoice_settings"]["default_payment_method"] == card["id"]
    assert customer["previous_attributes"] == {"invoice_settings": {"default_payment_method": None}}


def test_cancel_without_a_required_reason_changes_nothing(
    standin: StandIn, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)
    url = _session_url(client, customer_id)
    standin.webhooks.stop()
    delivered = len(webhook_endpoint[1].deliveries)

    status, _, page = _portal_post(url, {"action": "cancel", "subscription": sub_id})

    assert status == 200 and "Please choose a reason" in page
    assert standin.state.get("subscriptions", sub_id)["cancel_at_period_end"] is False
    assert len(webhook_endpoint[1].deliveries) == delivered


def test_an_unknown_session_link_is_refused(standin: StandIn) -> None:
    status, _, page = _portal_post(standin.url + "/p/session/not-a-secret", {"action": "card"})
    assert status == 404 and "not valid" in page


def test_a_failing_endpoint_is_retried_like_stripe(
    standin: StandIn, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    webhook_endpoint[1].answer_status = 500
    delivery = standin.webhooks.send({"id": "evt_retry", "type": "customer.updated"})
    assert not delivery.done.wait(0.2)  # still retrying
    webhook_endpoint[1].answer_status = 200
    assert delivery.done.wait(15)
    assert delivery.attempts >= 2 and delivery.status == 200
    assert [event["id"] for event in webhook_endpoint[1].events()] == ["evt_retry"]


# --- the churn loop: custom reasons, the retention coupon, how a flow ends ---------------

PATH = "features.subscription_cancel.cancellation_reason.feedback_options"
CANCEL_WITH_OPTIONS = {
    "features": {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {
                "enabled": True,
                "options": ["too_expensive"],
                "feedback_options": ["bfo_demo_setup", "bfo_demo_team"],
            },
        }
    }
}


def _configuration(client: stripe.StripeClient) -> Any:
    return client.v1.billing_portal.configurations.create(params=CANCEL_WITH_OPTIONS)


@contract.requires_openapi
def test_configurations_expand_their_feedback_options_on_request(
    standin: Any, client: stripe.StripeClient
) -> None:
    config = _configuration(client)
    reasons = config.to_dict()["features"]["subscription_cancel"]["cancellation_reason"]
    assert reasons["feedback_options"] == ["bfo_demo_setup", "bfo_demo_team"]

    retrieved = client.v1.billing_portal.configurations.retrieve(
        config.id, params={"expand": [PATH]}
    ).to_dict()
    contract.validate_object("billing_portal.configuration", retrieved)
    options = retrieved["features"]["subscription_cancel"]["cancellation_reason"]
    assert [o["description"] for o in options["feedback_options"]] == [
        "Too hard to set up",
        "My team moved to another tool",
    ]
    try:
        client.v1.billing_portal.configurations.list(params={"expand": [f"data.{PATH}"]})
    except stripe.InvalidRequestError as error:
        assert "4 levels" in str(error)
    else:
        raise AssertionError("a list cannot expand five levels deep")


@contract.requires_openapi
def test_a_custom_reason_is_sent_as_the_feedback_option(
    standin: Any, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)
    url = _session_url(client, customer_id, configuration=_configuration(client).id)
    with urllib.request.urlopen(url, timeout=10) as page:
        assert "Too hard to set up" in page.read().decode()

    _portal_post(url, {"action": "cancel", "subscription": sub_id, "reason": "bfo_demo_setup"})

    sub = _verified(webhook_endpoint[1])[-1]["data"]["object"]
    contract.validate_object("subscription", sub, strict=True)
    assert sub["cancellation_details"]["feedback_option"] == "bfo_demo_setup"
    assert sub["cancellation_details"]["feedback"] is None


@contract.requires_openapi
def test_accepting_the_retention_offer_applies_the_coupon(
    standin: Any, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {
            "subscription": sub_id,
            "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "DEMO_STAY25"}},
        },
        "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN_URL}},
    }
    url = _session_url(client, customer_id, flow_data=flow)
    with urllib.request.urlopen(url, timeout=10) as page:
        html = page.read().decode()
    assert "DEMO_STAY25" in html and "Accept the offer" in html

    status, location, _ = _portal_post(url, {"action": "accept_offer", "subscription": sub_id})

    assert (status, location) == (303, RETURN_URL)
    discount, update = _verified(webhook_endpoint[1])[-2:]
    assert discount["type"] == "customer.discount.created"
    contract.validate_object("discount", discount["data"]["object"], strict=True)
    assert discount["data"]["object"]["subscription"] == sub_id
    assert discount["data"]["object"]["source"] == {"type": "coupon", "coupon": "DEMO_STAY25"}
    assert update["type"] == "customer.subscription.updated"
    assert update["data"]["object"]["discounts"] == [discount["data"]["object"]["id"]]
    assert update["data"]["previous_attributes"] == {"discounts": []}
    assert update["data"]["object"]["cancel_at_period_end"] is False


@contract.requires_openapi
def test_a_flow_can_end_on_a_confirmation_page(
    standin: Any, client: stripe.StripeClient, webhook_endpoint: tuple[str, Received]
) -> None:
    customer_id, sub_id = _customer_with_subscription(client)
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {"subscription": sub_id},
        "after_completion": {
            "type": "hosted_confirmation",
            "hosted_confirmation": {"custom_message": "Sorry to see you go <3"},
        },
    }
    url = _session_url(client, customer_id, flow_data=flow)

    status, location, html = _portal_post(
        url, {"action": "cancel", "subscription": sub_id, "reason": "too_expensive"}
    )

    assert (status, location) == (200, None)
    assert "Sorry to see you go &lt;3" in html
