"""The cancel flow's retention offer (decided on the server, per customer) and the three
``after_completion`` endings of a deep link; every body checked against Stripe's spec."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client, RequestFactory, override_settings

from django_stripe_portal.models import PortalSession
from django_stripe_portal.portal.button_form import CONFIRMATION_MESSAGE_MAX_LENGTH
from tests import contract
from tests.factories import UserFactory
from tests.portal_support import CUSTOMER_ID, FakePortalApi
from tests.test_redirect_flows import PORTAL, TEST_SETTINGS, own_subscription

pytestmark = pytest.mark.django_db

RESOLVED: list[tuple[Any, str, str]] = []


def coupon_by_customer(request: Any, customer_id: str, subscription_id: str) -> str | None:
    """A resolver that offers a bigger coupon to one customer and none to others."""
    RESOLVED.append((request, customer_id, subscription_id))
    return "WINBACK50" if customer_id == CUSTOMER_ID else None


def bad_resolver(request: Any, customer_id: str, subscription_id: str) -> Any:
    return 42


RESOLVER = f"{__name__}.coupon_by_customer"


def _cancel(client: Client, **fields: str) -> Any:
    sub = own_subscription()
    response = client.post(
        PORTAL, {"flow": "subscription_cancel", "subscription": sub.stripe_id, **fields}
    )
    return sub, response


def test_the_resolver_names_the_coupon_for_this_customer_and_subscription(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    RESOLVED.clear()
    settings = {**TEST_SETTINGS, "RETENTION_RESOLVER": RESOLVER, "RETENTION_COUPON": "WINBACK20"}
    with override_settings(STRIPE_PORTAL=settings):
        sub, response = _cancel(signed_in)

    assert response.status_code == 303
    assert portal_api.sent()["flow_data"]["subscription_cancel"] == {
        "subscription": sub.stripe_id,
        "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "WINBACK50"}},
    }
    ((request, customer_id, subscription_id),) = RESOLVED
    assert (customer_id, subscription_id) == (CUSTOMER_ID, sub.stripe_id)
    assert request.user.is_authenticated
    assert PortalSession.objects.get().retention_coupon == "WINBACK50"


def test_a_resolver_answering_none_means_no_offer_even_with_a_default(
    client: Client, portal_api: FakePortalApi
) -> None:
    from tests.factories import StripeCustomerFactory

    other = StripeCustomerFactory(customer_id="cus_nooffer")
    client.force_login(other.user)
    settings = {**TEST_SETTINGS, "RETENTION_RESOLVER": RESOLVER, "RETENTION_COUPON": "WINBACK20"}
    with override_settings(STRIPE_PORTAL=settings):
        client.post(PORTAL, {"flow": "subscription_cancel", "subscription": "sub_notstored1"})

    assert "retention" not in portal_api.sent()["flow_data"]["subscription_cancel"]
    assert PortalSession.objects.get().retention_coupon == ""


def test_without_a_resolver_the_fixed_coupon_is_offered_and_recorded(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETENTION_COUPON": "WINBACK20"}):
        _cancel(signed_in)

    sent = portal_api.sent()["flow_data"]["subscription_cancel"]
    assert sent["retention"]["coupon_offer"]["coupon"] == "WINBACK20"
    assert PortalSession.objects.get().retention_coupon == "WINBACK20"


def test_the_form_cannot_name_or_add_a_coupon(signed_in: Client, portal_api: FakePortalApi) -> None:
    _cancel(signed_in, retention="FREE100", coupon="FREE100", retention_coupon="FREE100")

    assert "retention" not in portal_api.sent()["flow_data"]["subscription_cancel"]
    assert PortalSession.objects.get().retention_coupon == ""


def test_other_flows_never_carry_an_offer(signed_in: Client, portal_api: FakePortalApi) -> None:
    sub = own_subscription()
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETENTION_RESOLVER": RESOLVER}):
        signed_in.post(PORTAL, {"flow": "subscription_update", "subscription": sub.stripe_id})

    assert portal_api.sent()["flow_data"]["subscription_update"] == {"subscription": sub.stripe_id}
    assert PortalSession.objects.get().retention_coupon == ""


def test_a_resolver_returning_something_else_says_what_to_return(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    settings = {**TEST_SETTINGS, "RETENTION_RESOLVER": f"{__name__}.bad_resolver"}
    with (
        override_settings(STRIPE_PORTAL=settings),
        pytest.raises(ImproperlyConfigured, match=r"RETENTION_RESOLVER.*coupon id"),
    ):
        _cancel(signed_in)
    assert portal_api.calls == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "redirect"),
        ({"after": "redirect"}, "redirect"),
        ({"after": "portal"}, {"type": "portal_homepage"}),
        ({"after": "confirmation"}, {"type": "hosted_confirmation"}),
        (
            {"after": "confirmation", "confirmation_message": "See you soon!"},
            {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "See you soon!"},
            },
        ),
        (
            {
                "after": "confirmation",
                "confirmation_message": "x" * CONFIRMATION_MESSAGE_MAX_LENGTH,
            },
            {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "x" * CONFIRMATION_MESSAGE_MAX_LENGTH},
            },
        ),
    ],
)
def test_after_completion_variants_validate(
    signed_in: Client, portal_api: FakePortalApi, fields: dict[str, str], expected: Any
) -> None:
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETENTION_COUPON": "WINBACK20"}):
        _sub, response = _cancel(signed_in, **fields)

    assert response.status_code == 303
    sent = portal_api.sent()  # checked against Stripe's schema
    if expected == "redirect":
        expected = {"type": "redirect", "redirect": {"return_url": sent["return_url"]}}
    assert sent["flow_data"]["after_completion"] == expected
    assert sent["flow_data"]["subscription_cancel"]["retention"]["type"] == "coupon_offer"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"after": "elsewhere"}, "invalid_after_completion"),
        (
            {"after": "portal", "confirmation_message": "Hi"},
            "confirmation_message_without_confirmation",
        ),
        (
            {
                "after": "confirmation",
                "confirmation_message": "x" * (CONFIRMATION_MESSAGE_MAX_LENGTH + 1),
            },
            "confirmation_message_too_long",
        ),
    ],
)
def test_bad_completion_fields_are_refused_before_any_request(
    signed_in: Client, portal_api: FakePortalApi, fields: dict[str, str], code: str
) -> None:
    sub = own_subscription()
    response = signed_in.post(
        PORTAL,
        {"flow": "subscription_cancel", "subscription": sub.stripe_id, **fields},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert portal_api.calls == []
    assert not PortalSession.objects.exists()


def test_the_length_limit_is_stripes() -> None:
    contract.validator()
    import json

    spec = json.loads((contract.OPENAPI_DIR / "billing_portal_subset.json").read_text())
    body = spec["paths"]["/v1/billing_portal/sessions"]["post"]["requestBody"]["content"]
    flow_data = body["application/x-www-form-urlencoded"]["schema"]["properties"]["flow_data"]
    after = flow_data["properties"]["after_completion"]["properties"]
    limit = after["hosted_confirmation"]["properties"]["custom_message"]["maxLength"]
    assert limit == CONFIRMATION_MESSAGE_MAX_LENGTH
    assert set(after["type"]["enum"]) == {"redirect", "hosted_confirmation", "portal_homepage"}


def _render(tag: str, **context: Any) -> str:
    request = RequestFactory().get("/")
    request.user = UserFactory()
    template = Template("{% load stripe_portal %}" + tag)
    return template.render(Context({"request": request, **context}))


def test_the_button_carries_after_and_the_message_as_form_fields() -> None:
    html = _render(
        '{% portal_button "Cancel" flow="subscription_cancel" subscription="sub_1" '
        'after="confirmation" confirmation_message=goodbye %}',
        goodbye='Sorry to see you go & "thanks"',
    )
    assert '<input type="hidden" name="after" value="confirmation">' in html
    assert (
        '<input type="hidden" name="confirmation_message" '
        'value="Sorry to see you go &amp; &quot;thanks&quot;">' in html
    )
    assert "retention" not in html and "coupon" not in html


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ('{% portal_button flow="payment_method_update" after="home" %}', "is not one of"),
        ('{% portal_button after="portal" %}', "add flow="),
        (
            '{% portal_button flow="payment_method_update" confirmation_message="Hi" %}',
            'needs after="confirmation"',
        ),
        (
            '{% portal_button flow="payment_method_update" after="confirmation" '
            f'confirmation_message="{"x" * 501}" %}}',
            "at most 500",
        ),
    ],
)
def test_a_button_that_cannot_work_fails_when_it_renders(tag: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=message):
        _render(tag)
