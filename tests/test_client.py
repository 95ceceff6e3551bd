"""The one StripeClient: built from settings, pinned version, never the global api_key."""

from __future__ import annotations

import pytest
import responses
import stripe
from django.test import override_settings

from django_stripe_portal.client import get_client, request_id_of
from tests import stripe_objects


def test_client_sends_key_pinned_version_and_uses_api_base(
    stripe_mock: responses.RequestsMock,
) -> None:
    obj = stripe_objects.portal_configuration()
    stripe_mock.get(
        f"http://127.0.0.1:12999/v1/billing_portal/configurations/{obj['id']}", json=obj
    )
    settings = {
        "API_KEY": "sk_test_pinned",
        "API_BASE": "http://127.0.0.1:12999/",
        "API_VERSION": "2026-10-28.endive",
    }
    with override_settings(STRIPE_PORTAL=settings):
        client = get_client()
        client.v1.billing_portal.configurations.retrieve(obj["id"])
    request = stripe_mock.calls[0].request
    assert request.headers["Authorization"] == "Bearer sk_test_pinned"
    assert request.headers["Stripe-Version"] == "2026-10-28.endive"
    assert stripe.api_key is None


def test_client_is_rebuilt_when_settings_change() -> None:
    first = get_client()
    assert get_client() is first
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_other"}):
        assert get_client() is not first


def test_request_id_is_read_from_stripe_errors(stripe_mock: responses.RequestsMock) -> None:
    stripe_mock.post(
        "https://api.stripe.com/v1/billing_portal/sessions",
        status=400,
        json={"error": {"type": "invalid_request_error", "message": "No such customer: 'cus_x'"}},
        headers={"Request-Id": "req_abc123"},
    )
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        get_client().v1.billing_portal.sessions.create({"customer": "cus_x"})
    assert request_id_of(excinfo.value) == "req_abc123"
    assert request_id_of(ValueError("x")) is None
