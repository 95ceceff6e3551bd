"""``PORTAL_GUARD`` through the real redirect view, and ``guards.subscription_states``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from django_stripe_portal.models import PortalSession
from tests.factories import StripeSubscriptionFactory
from tests.portal_support import CUSTOMER_ID, FakePortalApi

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"
GUARD = "django_stripe_portal.guards.subscription_states"
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}
GUARD_URLS = {
    "incomplete": "/billing/complete-payment/",
    "past_due": "/billing/fix-card/",
    "ended": "/pricing/",
    "none": "account",  # a URL name works too
}


def guarded(**extra: Any) -> Any:
    return override_settings(
        STRIPE_PORTAL={**TEST_SETTINGS, "PORTAL_GUARD": GUARD, "GUARD_URLS": GUARD_URLS, **extra}
    )


def subscribe(*statuses: str, customer_id: str = CUSTOMER_ID) -> None:
    for status in statuses:
        StripeSubscriptionFactory(customer_id=customer_id, status=status)


@pytest.mark.parametrize(
    ("statuses", "target"),
    [
        (("incomplete",), "/billing/complete-payment/"),
        (("incomplete", "canceled"), "/billing/complete-payment/"),
        (("past_due",), "/billing/fix-card/"),
        (("past_due", "incomplete"), "/billing/complete-payment/"),  # the more urgent first
        (("canceled",), "/pricing/"),
        (("canceled", "incomplete_expired"), "/pricing/"),
        ((), "/account/"),
    ],
)
def test_guard_redirects_instead_of_calling_stripe(
    signed_in: Client, portal_api: FakePortalApi, statuses: tuple[str, ...], target: str
) -> None:
    subscribe(*statuses)
    subscribe("active", customer_id="cus_someoneelse")  # never looked at

    with guarded():
        response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert response["Location"] == target
    assert portal_api.calls == []
    assert PortalSession.objects.count() == 0


@pytest.mark.parametrize(
    "statuses", [("active",), ("trialing",), ("active", "canceled"), ("unpaid",), ("paused",)]
)
def test_statuses_without_a_url_open_the_portal(
    signed_in: Client, portal_api: FakePortalApi, statuses: tuple[str, ...]
) -> None:
    subscribe(*statuses)

    with guarded():
        response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert response["Location"] == portal_api.url
    assert len(portal_api.calls) == 1


def test_guard_answer_for_json_clients(signed_in: Client, portal_api: FakePortalApi) -> None:
    subscribe("incomplete")

    with guarded():
        response = signed_in.post(PORTAL, headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.json() == {"url": "/billing/complete-payment/"}
    assert portal_api.calls == []


def test_guard_costs_one_query(
    signed_in: Client, portal_api: FakePortalApi, django_assert_max_num_queries: Any
) -> None:
    subscribe("active")

    with guarded(), django_assert_max_num_queries(5):  # 3 + the guard's + the insert
        signed_in.post(PORTAL)


def test_custom_guard_gets_the_resolved_customer(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    seen: list[str] = []

    def verified_email_first(request: Any, customer_id: str) -> str | None:
        seen.append(customer_id)
        return None if request.user.email else "/verify-email/"

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "PORTAL_GUARD": verified_email_first}):
        response = signed_in.post(PORTAL, {"customer": "cus_forged"})

    assert seen == [CUSTOMER_ID]
    assert response["Location"] == portal_api.url


def test_no_guard_urls_means_no_query(
    signed_in: Client, portal_api: FakePortalApi, django_assert_max_num_queries: Any
) -> None:
    with (
        override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "PORTAL_GUARD": GUARD}),
        django_assert_max_num_queries(4),
    ):
        response = signed_in.post(PORTAL)

    assert response.status_code == 303


def test_misspelt_guard_key_is_a_clear_configuration_error() -> None:
    from django_stripe_portal.guards import subscription_states

    with (
        override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "GUARD_URLS": {"incompete": "/x/"}}),
        pytest.raises(ImproperlyConfigured, match=r"GUARD_URLS.*'incompete'"),
    ):
        subscription_states(None, CUSTOMER_ID)  # type: ignore[arg-type]


def test_system_check_names_the_misspelt_key() -> None:
    from django_stripe_portal.checks import check_settings

    with override_settings(
        STRIPE_PORTAL={**TEST_SETTINGS, "GUARD_URLS": {"ended": "/p/", "incompete": "/x/"}}
    ):
        errors = [m for m in check_settings() if m.id == "stripe_portal.E011"]

    [error] = errors
    assert "'incompete'" in error.msg
    assert "ended" not in error.msg.split("has unknown key(s)")[1].split(";")[0]


@pytest.mark.parametrize("guard_urls", [{}, GUARD_URLS])
def test_system_check_accepts_known_keys(guard_urls: dict[str, str]) -> None:
    from django_stripe_portal.checks import check_settings

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "GUARD_URLS": guard_urls}):
        assert [m for m in check_settings() if m.id == "stripe_portal.E011"] == []


def test_guard_urls_must_be_a_dict() -> None:
    from django_stripe_portal.checks import check_settings

    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "GUARD_URLS": ["/pricing/"]}):
        [error] = [m for m in check_settings() if m.id == "stripe_portal.E011"]

    assert "must be a dict" in error.msg
