"""Deep links: the ``flow`` field of the billing button and its subscription checks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from django.contrib.messages import get_messages
from django.test import Client, override_settings

from django_stripe_portal.models import PortalSession
from django_stripe_portal.portal.button_form import FLOW_TYPES, LOCALES
from django_stripe_portal.webhooks.payload import subscription_items
from tests import contract, stripe_objects
from tests.factories import StripeSubscriptionFactory
from tests.portal_support import (
    CUSTOMER_ID,
    FakePortalApi,
    stripe_error_answer,
)

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def own_subscription(**kwargs: Any) -> Any:
    """A stored subscription of the signed-in customer, items as the webhooks store them."""
    payload = stripe_objects.subscription(customer=CUSTOMER_ID, **kwargs)
    return StripeSubscriptionFactory(
        stripe_id=payload["id"], customer_id=CUSTOMER_ID, items=subscription_items(payload)
    )


@pytest.mark.parametrize("flow", ["payment_method_update", "customer_update"])
def test_account_flows_need_no_subscription(
    signed_in: Client, portal_api: FakePortalApi, flow: str
) -> None:
    response = signed_in.post(PORTAL, {"flow": flow})

    assert response.status_code == 303
    sent = portal_api.sent()
    assert sent["flow_data"] == {
        "type": flow,
        "after_completion": {"type": "redirect", "redirect": {"return_url": sent["return_url"]}},
    }
    assert PortalSession.objects.get().flow_type == flow


@pytest.mark.parametrize(
    "flow", ["subscription_cancel", "subscription_pause", "subscription_update"]
)
def test_subscription_flows_name_the_subscription(
    signed_in: Client, portal_api: FakePortalApi, flow: str
) -> None:
    sub = own_subscription()

    response = signed_in.post(PORTAL, {"flow": flow, "subscription": sub.stripe_id})

    assert response.status_code == 303
    flow_data = portal_api.sent()["flow_data"]
    assert flow_data["type"] == flow
    assert flow_data[flow] == {"subscription": sub.stripe_id}
    assert flow_data["after_completion"]["type"] == "redirect"
    assert PortalSession.objects.get().flow_type == flow


def test_cancel_flow_carries_the_retention_coupon(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    sub = own_subscription()

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETENTION_COUPON": "WINBACK25"}):
        signed_in.post(PORTAL, {"flow": "subscription_cancel", "subscription": sub.stripe_id})

    assert portal_api.sent()["flow_data"]["subscription_cancel"] == {
        "subscription": sub.stripe_id,
        "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "WINBACK25"}},
    }


def test_retention_coupon_is_only_for_the_cancel_flow(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    sub = own_subscription()

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETENTION_COUPON": "WINBACK25"}):
        signed_in.post(PORTAL, {"flow": "subscription_update", "subscription": sub.stripe_id})

    assert portal_api.sent()["flow_data"]["subscription_update"] == {"subscription": sub.stripe_id}


def test_update_confirm_moves_the_one_item_to_the_price(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    sub = own_subscription(items=[("price_basic", 3)])
    [item] = sub.items

    signed_in.post(
        PORTAL,
        {
            "flow": "subscription_update_confirm",
            "subscription": sub.stripe_id,
            "price": "price_pro",
        },
    )

    assert portal_api.sent()["flow_data"]["subscription_update_confirm"] == {
        "subscription": sub.stripe_id,
        "items": [{"id": item["id"], "price": "price_pro"}],
    }


@pytest.mark.parametrize("flow", ["subscription_cancel", "subscription_update_confirm"])
def test_subscription_of_another_customer_is_refused_without_calling_stripe(
    signed_in: Client, portal_api: FakePortalApi, flow: str
) -> None:
    foreign = StripeSubscriptionFactory(customer_id="cus_someoneelse")

    response = signed_in.post(
        PORTAL,
        {
            "flow": flow,
            "subscription": foreign.stripe_id,
            "price": "price_pro",
            "return_to": "/account/",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response) == ["That subscription does not belong to your account."]
    assert portal_api.calls == []
    assert PortalSession.objects.count() == 0


def test_foreign_subscription_for_json_client_is_403(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    foreign = StripeSubscriptionFactory(customer_id="cus_someoneelse")

    response = signed_in.post(
        PORTAL,
        {"flow": "subscription_cancel", "subscription": foreign.stripe_id},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "foreign_subscription"


def test_subscription_unknown_locally_is_left_to_stripe(
    signed_in: Client, stripe_mock: responses.RequestsMock
) -> None:
    # Stripe answers a subscription of another customer with an invalid_request_error.
    stripe_error_answer(
        stripe_mock,
        400,
        message="The subscription sub_notstoredyet1 does not belong to customer cus_portaltest01.",
        code=None,
    )

    response = signed_in.post(
        PORTAL,
        {
            "flow": "subscription_cancel",
            "subscription": "sub_notstoredyet1",
            "return_to": "/account/",
        },
    )

    [call] = stripe_mock.calls
    sent = contract.validate_request("POST", call.request.url, call.request.body)
    assert sent["flow_data"]["subscription_cancel"] == {"subscription": "sub_notstoredyet1"}
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response)[0].startswith("Billing is unavailable right now.")
    assert PortalSession.objects.count() == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"flow": "subscription_wipe"}, "That billing page does not exist."),
        ({"flow": "subscription_cancel"}, "Choose a subscription to manage."),
        (
            {"flow": "subscription_cancel", "subscription": "cus_x"},
            "Choose a subscription to manage.",
        ),
        (
            {"flow": "subscription_cancel", "subscription": "sub_1 OR 1=1"},
            "Choose a subscription to manage.",
        ),
        (
            {"flow": "subscription_update_confirm", "subscription": "sub_known"},
            "Choose a plan to switch to.",
        ),
        (
            {"flow": "subscription_update_confirm", "subscription": "sub_known", "price": "a b"},
            "Choose a plan to switch to.",
        ),
        (
            {
                "flow": "subscription_update_confirm",
                "subscription": "sub_unknown",
                "price": "price_x",
            },
            "This subscription cannot be changed here yet. Please try again in a minute.",
        ),
        (
            {"flow": "subscription_update_confirm", "subscription": "sub_twoitems", "price": "p_x"},
            "This subscription cannot be switched to another plan here.",
        ),
        (
            {"flow": "subscription_cancel", "subscription": "sub_ended"},
            "That subscription has already ended.",
        ),
        (
            {"flow": "subscription_update_confirm", "subscription": "sub_noitemid", "price": "p_x"},
            "This subscription cannot be switched to another plan here.",
        ),
    ],
)
def test_bad_flow_requests_are_messages_not_500s(
    signed_in: Client, portal_api: FakePortalApi, form: dict[str, str], message: str
) -> None:
    StripeSubscriptionFactory(stripe_id="sub_known", customer_id=CUSTOMER_ID)
    own = stripe_objects.subscription(customer=CUSTOMER_ID, items=[("price_a", 1), ("price_b", 1)])
    StripeSubscriptionFactory(
        stripe_id="sub_twoitems", customer_id=CUSTOMER_ID, items=subscription_items(own)
    )
    StripeSubscriptionFactory(stripe_id="sub_ended", customer_id=CUSTOMER_ID, status="canceled")
    # A row written before item ids were kept.
    StripeSubscriptionFactory(
        stripe_id="sub_noitemid", customer_id=CUSTOMER_ID, items=[{"price": "p_a", "quantity": 1}]
    )

    response = signed_in.post(PORTAL, {**form, "return_to": "/account/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response) == [message]
    assert portal_api.calls == []


def test_every_flow_body_validates_against_stripes_schema(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    sub = own_subscription()

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETENTION_COUPON": "WINBACK25"}):
        for flow in FLOW_TYPES:
            signed_in.post(
                PORTAL,
                {"flow": flow, "subscription": sub.stripe_id, "price": "price_pro", "locale": "de"},
            )

    assert len(portal_api.calls) == len(FLOW_TYPES)
    for index, flow in enumerate(FLOW_TYPES):
        assert portal_api.sent(index)["flow_data"]["type"] == flow


def test_flow_types_and_locales_match_stripes_schema() -> None:
    contract.validator()  # skips where the spec is absent
    spec = _session_create_schema()
    assert tuple(spec["locale"]["enum"]) == LOCALES
    assert set(spec["flow_data"]["properties"]["type"]["enum"]) == set(FLOW_TYPES)


def _session_create_schema() -> dict[str, Any]:
    subset = json.loads((contract.OPENAPI_DIR / "billing_portal_subset.json").read_text())
    operation = subset["paths"]["/v1/billing_portal/sessions"]["post"]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    properties: dict[str, Any] = schema["properties"]
    return properties


def test_after_completion_comes_back_through_the_return_link(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    signed_in.post(PORTAL, {"flow": "payment_method_update", "return_to": "/account/"})
    sent = portal_api.sent()
    after = sent["flow_data"]["after_completion"]["redirect"]["return_url"]

    response = signed_in.get(urlsplit(after).path)

    assert after == sent["return_url"]
    assert response["Location"] == "/account/"
