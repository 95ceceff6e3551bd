"""``stripe_portal:redirect``: the plain click, its security rules and its failures."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.contrib.messages import get_messages
from django.db import connections
from django.test import Client, override_settings
from django.urls import resolve, reverse

from django_stripe_portal.models import PortalSession
from django_stripe_portal.portal.return_links import read_return_key
from django_stripe_portal.signals import portal_session_created
from tests.factories import (
    PortalConfigurationFactory,
    PortalSessionFactory,
    StripeCustomerFactory,
    StripeSubscriptionFactory,
    UserFactory,
)
from tests.portal_support import (
    CUSTOMER_ID,
    SESSIONS_URL,
    FakePortalApi,
    stripe_error_answer,
)

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


def portal_settings(**extra: Any) -> Any:
    return override_settings(STRIPE_PORTAL={**TEST_SETTINGS, **extra})


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


class SignalRecorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append({"sender": sender, **kwargs})


@pytest.fixture
def created_signal() -> Any:
    recorder = SignalRecorder()
    portal_session_created.connect(recorder)
    yield recorder
    portal_session_created.disconnect(recorder)


def test_url_name_is_the_redirect_view() -> None:
    assert reverse("stripe_portal:redirect") == PORTAL
    assert resolve(PORTAL).url_name == "redirect"


def test_click_opens_the_portal_and_records_the_visit(
    signed_in: Client, portal_api: FakePortalApi, created_signal: SignalRecorder, customer_link: Any
) -> None:
    response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert response["Location"] == portal_api.url
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert len(portal_api.calls) == 1
    sent = portal_api.sent()
    assert set(sent) == {"customer", "return_url"}
    assert sent["customer"] == CUSTOMER_ID
    return_url = urlsplit(sent["return_url"])
    assert (return_url.scheme, return_url.netloc) == ("http", "testserver")
    match = resolve(return_url.path)
    assert match.view_name == "stripe_portal:return"

    row = PortalSession.objects.get()
    answered = portal_api.answered[-1]
    assert row.stripe_id == answered["id"]
    assert row.customer_id == CUSTOMER_ID
    assert row.user == customer_link.user
    assert row.source == PortalSession.Source.APP
    assert row.return_to == "/"
    assert (row.flow_type, row.locale, row.configuration) == ("", "", None)
    assert row.livemode is False
    assert int(row.created_at.timestamp()) == answered["created"]
    assert read_return_key(match.kwargs["token"]) == row.return_key != ""

    [signal] = created_signal.calls
    assert signal["sender"] is PortalSession
    assert signal["portal_session"].pk == row.pk
    assert signal["event"] is None
    assert signal["data"]["id"] == answered["id"]
    assert "url" not in signal["data"]


def test_every_click_has_its_own_idempotency_key(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    signed_in.post(PORTAL)
    signed_in.post(PORTAL)

    keys = [call.request.headers["Idempotency-Key"] for call in portal_api.calls]
    assert len(keys) == 2
    assert keys[0] != keys[1]
    assert all(key.startswith("django-stripe-portal-session-") for key in keys)


def test_customer_in_the_form_is_ignored(signed_in: Client, portal_api: FakePortalApi) -> None:
    other = StripeCustomerFactory(customer_id="cus_victim0001")

    response = signed_in.post(
        PORTAL, {"customer": other.customer_id, "customer_id": other.customer_id}
    )

    assert response.status_code == 303
    assert portal_api.sent()["customer"] == CUSTOMER_ID
    assert PortalSession.objects.get().customer_id == CUSTOMER_ID


def test_a_get_goes_back_to_the_return_url_and_opens_nothing(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    """A bookmarked or reloaded button URL: somewhere useful, never a portal session."""
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETURN_URL": "account"}):
        response = signed_in.get(PORTAL)
    assert response.status_code == 303
    assert response["Location"] == "/account/"
    assert signed_in.head(PORTAL).status_code == 303
    assert portal_api.calls == []
    assert not PortalSession.objects.exists()


def test_other_methods_are_not_allowed(signed_in: Client, portal_api: FakePortalApi) -> None:
    assert signed_in.put(PORTAL).status_code == 405
    assert signed_in.delete(PORTAL).status_code == 405
    assert portal_api.calls == []


def test_an_anonymous_get_goes_to_login(client: Client, portal_api: FakePortalApi) -> None:
    response = client.get(PORTAL)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PORTAL}"


def test_anonymous_user_goes_to_login(client: Client, portal_api: FakePortalApi) -> None:
    response = client.post(PORTAL)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PORTAL}"
    assert portal_api.calls == []


def test_post_without_csrf_token_is_refused(customer_link: Any, portal_api: FakePortalApi) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_link.user)

    assert client.post(PORTAL).status_code == 403
    assert portal_api.calls == []


def test_post_with_csrf_token_is_accepted(customer_link: Any, portal_api: FakePortalApi) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_link.user)
    client.get("/account/")  # any page; the token comes from the cookie set below
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token

    response = client.post(PORTAL, {"csrfmiddlewaretoken": token})

    assert response.status_code == 303


def test_user_without_customer_gets_404(client: Client, portal_api: FakePortalApi) -> None:
    client.force_login(UserFactory())

    assert client.post(PORTAL).status_code == 404
    assert portal_api.calls == []
    assert PortalSession.objects.count() == 0


def test_user_without_customer_goes_to_no_customer_url(
    client: Client, portal_api: FakePortalApi
) -> None:
    client.force_login(UserFactory())

    with portal_settings(NO_CUSTOMER_URL="account"):
        response = client.post(PORTAL)

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response) == ["There is no billing account for you yet."]
    assert portal_api.calls == []


def test_customer_comes_from_the_configured_resolver(
    client: Client, portal_api: FakePortalApi
) -> None:
    client.force_login(UserFactory(username="resolved"))

    with portal_settings(CUSTOMER_RESOLVER=lambda request: f"cus_{request.user.username}"):
        response = client.post(PORTAL, {"customer": "cus_other"})

    assert response.status_code == 303
    assert portal_api.sent()["customer"] == "cus_resolved"


@pytest.mark.parametrize(
    ("return_to", "saved"),
    [
        ("/account/?tab=billing", "/account/?tab=billing"),
        ("http://testserver/account/", "http://testserver/account/"),
        ("https://app.example.com/settings/", "https://app.example.com/settings/"),
        ("https://evil.example.net/", "/"),
        ("//evil.example.net/", "/"),
        ("/\\evil.example.net/", "/"),
        ("/\t/evil.example.net/", "/"),
        ("//", "/"),
        ("//testserver/account/", "/"),
        ("javascript:alert(1)", "/"),
        ("account/", "/"),
        ("/" + "a" * 2000, "/"),
        ("", "/"),
    ],
)
def test_return_to_is_kept_only_when_safe(
    signed_in: Client, portal_api: FakePortalApi, return_to: str, saved: str
) -> None:
    with portal_settings(ALLOWED_RETURN_HOSTS=["app.example.com"]):
        response = signed_in.post(PORTAL, {"return_to": return_to})

    assert response.status_code == 303
    assert PortalSession.objects.get().return_to == saved


def test_unsafe_return_to_falls_back_to_a_named_return_url(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    with portal_settings(RETURN_URL="account"):
        signed_in.post(PORTAL, {"return_to": "https://evil.example.net/"})

    assert PortalSession.objects.get().return_to == "/account/"


def test_return_url_honours_the_proxy_ssl_header(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        signed_in.post(
            PORTAL,
            {"return_to": "http://testserver/account/"},
            headers={"X-Forwarded-Proto": "https", "Host": "testserver"},
        )

    assert portal_api.sent()["return_url"].startswith("https://testserver/billing/return/")
    # An https page may not send the user back to plain http.
    assert PortalSession.objects.get().return_to == "/"


def test_locale_is_passed_on(signed_in: Client, portal_api: FakePortalApi) -> None:
    signed_in.post(PORTAL, {"locale": "pt-BR"})

    assert portal_api.sent()["locale"] == "pt-BR"
    assert PortalSession.objects.get().locale == "pt-BR"


@pytest.mark.parametrize("locale", ["klingon", "EN", "en_US", "'; drop table"])
def test_bad_locale_is_a_message_not_a_500(
    signed_in: Client, portal_api: FakePortalApi, locale: str
) -> None:
    response = signed_in.post(PORTAL, {"locale": locale, "return_to": "/account/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response) == ["That language is not available."]
    assert portal_api.calls == []


def test_bad_value_goes_back_to_the_referring_page(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    response = signed_in.post(
        PORTAL, {"flow": "nonsense"}, headers={"Referer": "http://testserver/account/"}
    )

    assert response["Location"] == "http://testserver/account/"
    assert messages_of(response) == ["That billing page does not exist."]


def test_foreign_referer_is_not_followed(signed_in: Client, portal_api: FakePortalApi) -> None:
    response = signed_in.post(
        PORTAL, {"flow": "nonsense"}, headers={"Referer": "https://evil.example.net/"}
    )

    assert response["Location"] == "/"


def test_json_client_gets_the_url(signed_in: Client, portal_api: FakePortalApi) -> None:
    response = signed_in.post(PORTAL, headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.json() == {"url": portal_api.url}
    assert "no-store" in response["Cache-Control"]
    assert PortalSession.objects.count() == 1


def test_json_client_gets_a_json_error_for_bad_input(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    response = signed_in.post(PORTAL, {"locale": "xx"}, headers={"Accept": "application/json"})

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid_locale", "message": "That language is not available."}
    }


def test_json_client_without_customer_gets_404_json(
    client: Client, portal_api: FakePortalApi
) -> None:
    client.force_login(UserFactory())

    response = client.post(PORTAL, headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_customer"


# --- configurations -------------------------------------------------------------------


def test_default_configuration_is_sent_by_its_synced_id(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    config = PortalConfigurationFactory(key="default", stripe_id="bpc_synced0001")
    PortalConfigurationFactory(key="default", stripe_id="bpc_livemode001", livemode=True)

    with portal_settings(
        CONFIGURATIONS={"default": {"features": {}}}, DEFAULT_CONFIGURATION="default"
    ):
        signed_in.post(PORTAL)

    assert portal_api.sent()["configuration"] == "bpc_synced0001"
    assert PortalSession.objects.get().configuration == config


def test_configuration_resolver_wins_over_the_default(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    PortalConfigurationFactory(key="default", stripe_id="bpc_default0001")
    PortalConfigurationFactory(key="b2b", stripe_id="bpc_b2b00000001")
    seen: list[str] = []

    def by_segment(request: Any, customer_id: str) -> str:
        seen.append(customer_id)
        return "b2b"

    with portal_settings(DEFAULT_CONFIGURATION="default", CONFIGURATION_RESOLVER=by_segment):
        signed_in.post(PORTAL)

    assert seen == [CUSTOMER_ID]
    assert portal_api.sent()["configuration"] == "bpc_b2b00000001"


def test_resolver_answering_none_means_the_default(
    signed_in: Client, portal_api: FakePortalApi
) -> None:
    PortalConfigurationFactory(key="default", stripe_id="bpc_default0001")

    with portal_settings(
        DEFAULT_CONFIGURATION="default", CONFIGURATION_RESOLVER=lambda request, customer: None
    ):
        signed_in.post(PORTAL)

    assert portal_api.sent()["configuration"] == "bpc_default0001"


@pytest.mark.parametrize("stored", ["none", "live_only", "inactive"])
def test_unsynced_configuration_is_logged_and_the_account_default_used(
    signed_in: Client,
    portal_api: FakePortalApi,
    caplog: pytest.LogCaptureFixture,
    stored: str,
) -> None:
    if stored == "live_only":
        PortalConfigurationFactory(key="default", livemode=True)
    elif stored == "inactive":
        PortalConfigurationFactory(key="default", active=False)

    with portal_settings(DEFAULT_CONFIGURATION="default"):
        response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert "configuration" not in portal_api.sent()
    assert PortalSession.objects.get().configuration is None
    [record] = [r for r in caplog.records if r.name == "django_stripe_portal.portal"]
    assert record.levelno == logging.ERROR
    assert "'default'" in record.getMessage()
    assert "sync_portal_configs" in record.getMessage()


# --- the webhook row may come first ----------------------------------------------------


def test_session_stored_from_the_webhook_first_becomes_the_app_row(
    signed_in: Client, portal_api: FakePortalApi, customer_link: Any
) -> None:
    portal_api.session_id = "bps_webhookfirst1"
    PortalSessionFactory(
        stripe_id="bps_webhookfirst1",
        customer_id=CUSTOMER_ID,
        source=PortalSession.Source.WEBHOOK,
        user=None,
        return_to="",
    )

    response = signed_in.post(PORTAL, {"return_to": "/account/"})

    assert response.status_code == 303
    row = PortalSession.objects.get()
    assert row.stripe_id == "bps_webhookfirst1"
    assert row.source == PortalSession.Source.APP
    assert row.user == customer_link.user
    assert row.return_to == "/account/"
    assert row.return_key


def test_signal_carries_the_saved_row(
    signed_in: Client, portal_api: FakePortalApi, created_signal: SignalRecorder
) -> None:
    portal_api.session_id = "bps_webhookfirst2"
    PortalSessionFactory(stripe_id="bps_webhookfirst2", source=PortalSession.Source.WEBHOOK)

    signed_in.post(PORTAL)

    [signal] = created_signal.calls
    assert signal["portal_session"].pk == PortalSession.objects.get().pk


# --- Stripe failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (400, "invalid_request_error", "resource_missing"),  # customer deleted in Stripe
        (400, "invalid_request_error", None),  # no default configuration saved in Stripe
        (401, "invalid_request_error", None),  # revoked key
        (429, "invalid_request_error", "rate_limit"),
        (500, "api_error", None),
    ],
)
def test_stripe_error_sends_the_user_back_with_a_message(
    signed_in: Client,
    stripe_mock: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
    created_signal: SignalRecorder,
    status: int,
    error_type: str,
    code: str | None,
) -> None:
    stripe_error_answer(stripe_mock, status, error_type=error_type, code=code)

    response = signed_in.post(PORTAL, {"return_to": "/account/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response) == [
        "Billing is unavailable right now. Please try again in a moment. (reference req_failed123)"
    ]
    assert len(stripe_mock.calls) == 1
    assert PortalSession.objects.count() == 0
    assert created_signal.calls == []
    [record] = [r for r in caplog.records if r.name == "django_stripe_portal.views"]
    assert "req_failed123" in record.getMessage()
    assert CUSTOMER_ID in record.getMessage()


def test_stripe_error_without_return_to_goes_to_return_url(
    signed_in: Client, stripe_mock: responses.RequestsMock
) -> None:
    stripe_error_answer(stripe_mock, 400)

    with portal_settings(RETURN_URL="account"):
        response = signed_in.post(PORTAL)

    assert response["Location"] == "/account/"


@pytest.mark.parametrize(("status", "expected"), [(400, 502), (429, 429), (500, 502)])
def test_stripe_error_for_json_client(
    signed_in: Client, stripe_mock: responses.RequestsMock, status: int, expected: int
) -> None:
    stripe_error_answer(stripe_mock, status)

    response = signed_in.post(PORTAL, headers={"Accept": "application/json"})

    assert response.status_code == expected
    assert response.json()["error"]["code"] == "stripe_error"
    assert response.json()["error"]["request_id"] == "req_failed123"


def test_network_down_retries_with_the_same_key_then_gives_up(
    signed_in: Client, stripe_mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    stripe_mock.add(responses.POST, SESSIONS_URL, body=requests.ConnectionError("unreachable"))

    with portal_settings(MAX_NETWORK_RETRIES=1):
        response = signed_in.post(PORTAL, {"return_to": "/account/"})
        json_response = signed_in.post(PORTAL, headers={"Accept": "application/json"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert messages_of(response) == [
        "Billing is unavailable right now. Please try again in a moment."
    ]
    assert json_response.status_code == 503
    keys = [call.request.headers["Idempotency-Key"] for call in stripe_mock.calls]
    assert len(keys) == 4
    assert keys[0] == keys[1] != keys[2] == keys[3]
    assert PortalSession.objects.count() == 0
    warnings = [r for r in caplog.records if r.name == "django_stripe_portal.views"]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.WARNING]


# --- what never leaves the process ----------------------------------------------------


def test_portal_url_is_never_logged(
    signed_in: Client, portal_api: FakePortalApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    signed_in.post(PORTAL, {"flow": "payment_method_update"})

    url = portal_api.url
    assert url.startswith("https://")
    stripe_records = [r for r in caplog.records if r.name == "stripe"]
    # The SDK did log the response body at DEBUG: the test would see a leak.
    assert any("billing_portal.session" in r.getMessage() for r in stripe_records)
    assert all(url not in r.getMessage() for r in caplog.records)
    assert url not in caplog.text


def test_portal_url_is_never_stored(signed_in: Client, portal_api: FakePortalApi) -> None:
    signed_in.post(PORTAL)

    row = PortalSession.objects.values().get()
    path = urlsplit(portal_api.url).path
    assert all(path not in str(value) for value in row.values())


# --- budget ---------------------------------------------------------------------------


def test_one_click_costs_at_most_three_queries_besides_the_insert(
    signed_in: Client, portal_api: FakePortalApi, django_assert_max_num_queries: Any
) -> None:
    # Counted from the request's start: session and user loading included.
    with django_assert_max_num_queries(4) as captured:
        response = signed_in.post(PORTAL)

    assert response.status_code == 303
    inserts = [q for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert len(portal_api.calls) == 1


def test_no_transaction_is_held_across_the_stripe_call_under_atomic_requests(
    signed_in: Client, stripe_mock: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connections["default"].settings_dict, "ATOMIC_REQUESTS", True)
    fake = FakePortalApi(stripe_mock)
    depth_outside = len(connections["default"].atomic_blocks)
    depth_during_call: list[int] = []

    def answer(request: Any) -> Any:
        depth_during_call.append(len(connections["default"].atomic_blocks))
        return fake.answer(request)

    stripe_mock.add_callback(responses.POST, SESSIONS_URL, callback=answer)

    response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert depth_during_call == [depth_outside]
    assert PortalSession.objects.count() == 1


@pytest.mark.parametrize(
    ("extra_settings", "form", "queries"),
    [
        ({}, {}, 4),
        ({"DEFAULT_CONFIGURATION": "default"}, {}, 5),
        ({}, {"flow": "subscription_cancel", "subscription": "sub_budget0001"}, 5),
        (
            {
                "DEFAULT_CONFIGURATION": "default",
                "PORTAL_GUARD": "django_stripe_portal.guards.subscription_states",
                "GUARD_URLS": {"incomplete": "/pay/"},
            },
            {"flow": "subscription_cancel", "subscription": "sub_budget0001"},
            7,
        ),
    ],
    ids=["plain", "configuration", "subscription-flow", "all-of-them"],
)
def test_queries_per_feature_as_documented(
    signed_in: Client,
    portal_api: FakePortalApi,
    django_assert_num_queries: Any,
    extra_settings: dict[str, Any],
    form: dict[str, str],
    queries: int,
) -> None:
    """The figures of docs/portal-button.md ("Cost of a click")."""
    PortalConfigurationFactory(key="default")
    StripeSubscriptionFactory(stripe_id="sub_budget0001", customer_id=CUSTOMER_ID)

    with portal_settings(**extra_settings), django_assert_num_queries(queries):
        response = signed_in.post(PORTAL, form)

    assert response.status_code == 303
    assert len(portal_api.calls) == 1


def test_failing_receiver_is_logged_and_the_user_still_reaches_the_portal(
    signed_in: Client, portal_api: FakePortalApi, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_receiver(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("crm is down")

    portal_session_created.connect(broken_receiver)
    try:
        response = signed_in.post(PORTAL)
    finally:
        portal_session_created.disconnect(broken_receiver)

    assert response.status_code == 303
    assert response["Location"] == portal_api.url
    row = PortalSession.objects.get()
    [record] = [r for r in caplog.records if r.name == "django_stripe_portal.portal"]
    assert "broken_receiver" in record.getMessage()
    assert row.stripe_id in record.getMessage()
    assert record.exc_info is not None
    assert "crm is down" in caplog.text
