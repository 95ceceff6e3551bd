"""Access by feature: ``entitlement_required`` answers 200 / 403 / login (or
``ENTITLEMENT_REQUIRED_URL``), sync and async, and the ``has_entitlement`` filter."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.template import Context, Template
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from django_stripe_portal.access import entitlement_required
from django_stripe_portal.customers import link_customer
from django_stripe_portal.webhooks.entitlement_summaries import record_entitlement_summary
from django_stripe_portal.webhooks.payload import stripe_time
from tests import stripe_objects as so
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.entitlement_urls")]
SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}
MERCHANT = "acct_1MerchantR0001"


@pytest.fixture(autouse=True)
def _settings() -> Any:
    with override_settings(STRIPE_PORTAL=SETTINGS):
        yield


def entitle(customer_id: str, keys: list[str], account: str = "") -> None:
    record_entitlement_summary(
        so.entitlement_summary(customer_id, keys),
        account=account,
        event_created_at=stripe_time(time.time()),
    )


@pytest.fixture
def user() -> Any:
    user = UserFactory()
    link_customer(user, "cus_reports0001")
    return user


@pytest.mark.parametrize("url", ["/reports/", "/reports-async/"])
def test_a_user_with_the_feature_sees_the_page(client: Client, user: Any, url: str) -> None:
    entitle("cus_reports0001", ["api-access", "pro-reports"])
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"the pro reports" in response.content


@pytest.mark.parametrize("url", ["/reports/", "/reports-async/"])
def test_a_user_without_the_feature_gets_403(client: Client, user: Any, url: str) -> None:
    entitle("cus_reports0001", ["api-access"])
    client.force_login(user)
    assert client.get(url).status_code == 403


def test_a_user_with_no_customer_gets_403(client: Client) -> None:
    client.force_login(UserFactory())
    assert client.get("/reports/").status_code == 403


@pytest.mark.parametrize("url", ["/reports/", "/reports-async/"])
def test_a_signed_out_visitor_goes_to_login_and_comes_back(client: Client, url: str) -> None:
    response = client.get(url + "?period=q3")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}%3Fperiod%3Dq3"


def test_entitlement_required_url_sends_the_user_there_instead(client: Client, user: Any) -> None:
    client.force_login(user)
    with override_settings(STRIPE_PORTAL={**SETTINGS, "ENTITLEMENT_REQUIRED_URL": "pricing"}):
        response = client.get("/reports/")
    assert response.status_code == 302
    assert response["Location"] == "/pricing/"


def test_the_feature_on_another_account_does_not_open_the_page(client: Client, user: Any) -> None:
    entitle("cus_reports0001", ["pro-reports"], account=MERCHANT)
    client.force_login(user)
    assert client.get("/reports/").status_code == 403


def test_the_decorator_wants_a_lookup_key() -> None:
    with pytest.raises(TypeError):
        entitlement_required("")
    with pytest.raises(TypeError):
        entitlement_required(lambda request: None)  # type: ignore[arg-type]  # @entitlement_required without ()


def test_the_template_filter_asks_once_per_page(user: Any) -> None:
    entitle("cus_reports0001", ["pro-reports"])
    template = Template(
        "{% load stripe_portal %}"
        '{% if user|has_entitlement:"pro-reports" %}reports {% endif %}'
        '{% if user|has_entitlement:"api-access" %}api {% endif %}'
        '{% if user|has_entitlement:"pro-reports" %}again{% endif %}'
    )
    with CaptureQueriesContext(connection) as queries:
        rendered = template.render(Context({"user": user}))
    assert rendered == "reports again"
    assert len(queries) == 1


def test_the_template_filter_is_false_for_anonymous_users() -> None:
    template = Template('{% load stripe_portal %}{{ user|has_entitlement:"pro-reports" }}')
    with CaptureQueriesContext(connection) as queries:
        assert template.render(Context({"user": AnonymousUser()})) == "False"
    assert not queries
