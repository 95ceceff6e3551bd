"""``stripe_portal:return``: the signed link back from the portal."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client, override_settings
from django.urls import reverse

from django_stripe_portal.models import PortalSession
from django_stripe_portal.portal.return_links import (
    new_return_key,
    read_return_key,
    sign_return_key,
)
from django_stripe_portal.signals import portal_session_returned
from tests.factories import PortalSessionFactory
from tests.portal_support import (
    FakePortalApi,
)

pytestmark = pytest.mark.django_db
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


def return_path(token: str) -> str:
    return reverse("stripe_portal:return", args=[token])


@pytest.fixture
def returned_signal() -> Any:
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append({"sender": sender, **kwargs})

    portal_session_returned.connect(receiver)
    yield calls
    portal_session_returned.disconnect(receiver)


@pytest.fixture
def visit() -> PortalSession:
    session: PortalSession = PortalSessionFactory(
        return_key=new_return_key(), return_to="/account/?tab=billing"
    )
    return session


def test_return_records_once_and_redirects(
    client: Client, visit: PortalSession, returned_signal: list[dict[str, Any]]
) -> None:
    path = return_path(sign_return_key(visit.return_key))

    first = client.get(path)
    visit.refresh_from_db()
    first_returned_at = visit.returned_at
    second = client.get(path)
    visit.refresh_from_db()

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == "/account/?tab=billing"
    assert first_returned_at is not None
    assert visit.returned_at == first_returned_at
    [signal] = returned_signal
    assert signal["sender"] is PortalSession
    assert signal["portal_session"].pk == visit.pk
    assert signal["portal_session"].returned_at == first_returned_at
    assert signal["event"] is None
    assert signal["data"] == {}


def test_anonymous_user_can_come_back(client: Client, visit: PortalSession) -> None:
    # The site session may have expired while the user was in the portal.
    with override_settings(
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.auth.middleware.LoginRequiredMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
    ):
        response = client.get(return_path(sign_return_key(visit.return_key)))

    assert response.status_code == 302
    assert response["Location"] == "/account/?tab=billing"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda key: "not-a-token", id="garbage"),
        pytest.param(lambda key: sign_return_key(key)[:-2] + "xx", id="tampered-signature"),
        pytest.param(lambda key: sign_return_key(key + "x"), id="unknown-key"),
        pytest.param(lambda key: signing.TimestampSigner(salt="other").sign(key), id="other-salt"),
        pytest.param(lambda key: signing.TimestampSigner().sign(key), id="no-salt"),
        pytest.param(lambda key: sign_return_key(""), id="empty-key"),
    ],
)
def test_bad_token_goes_to_return_url_and_records_nothing(
    client: Client,
    visit: PortalSession,
    returned_signal: list[dict[str, Any]],
    make_token: Any,
) -> None:
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETURN_URL": "account"}):
        response = client.get(return_path(make_token(visit.return_key)))

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    visit.refresh_from_db()
    assert visit.returned_at is None
    assert returned_signal == []


def test_empty_key_never_matches_webhook_rows(client: Client) -> None:
    webhook_row = PortalSessionFactory(source=PortalSession.Source.WEBHOOK, return_to="/x/")

    response = client.get(return_path(sign_return_key("")))

    assert response["Location"] == "/"
    webhook_row.refresh_from_db()
    assert webhook_row.returned_at is None


def test_expired_token_records_nothing(
    client: Client, visit: PortalSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    eight_days_ago = time.time() - 8 * 24 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: eight_days_ago)
    token = sign_return_key(visit.return_key)
    monkeypatch.undo()

    response = client.get(return_path(token))

    assert response["Location"] == "/"
    visit.refresh_from_db()
    assert visit.returned_at is None


def test_token_age_follows_the_setting(
    visit: PortalSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    an_hour_ago = time.time() - 3600
    monkeypatch.setattr(signing.time, "time", lambda: an_hour_ago)
    token = sign_return_key(visit.return_key)
    monkeypatch.undo()

    assert read_return_key(token) == visit.return_key
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETURN_TOKEN_MAX_AGE": 600}):
        assert read_return_key(token) is None


def test_saved_target_no_longer_allowed_goes_to_return_url(client: Client) -> None:
    row = PortalSessionFactory(
        return_key=new_return_key(), return_to="https://old-app.example.com/billing/"
    )

    response = client.get(return_path(sign_return_key(row.return_key)))

    assert response["Location"] == "/"
    row.refresh_from_db()
    assert row.returned_at is not None  # the visit did come back


def test_post_is_not_allowed(client: Client, visit: PortalSession) -> None:
    assert client.post(return_path(sign_return_key(visit.return_key))).status_code == 405


def test_whole_loop_click_portal_return(
    signed_in: Client, portal_api: FakePortalApi, returned_signal: list[dict[str, Any]]
) -> None:
    signed_in.post("/billing/portal/", {"return_to": "/account/"})
    return_url = portal_api.sent()["return_url"]

    signed_in.logout()  # the site session expired meanwhile
    response = signed_in.get(urlsplit(return_url).path)

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    row = PortalSession.objects.get()
    assert row.returned_at is not None
    assert [call["portal_session"].pk for call in returned_signal] == [row.pk]


def test_return_costs_two_queries_then_one(
    client: Client, visit: PortalSession, django_assert_num_queries: Any
) -> None:
    path = return_path(sign_return_key(visit.return_key))

    with django_assert_num_queries(2):  # find the visit, mark it returned
        client.get(path)
    with django_assert_num_queries(1):
        client.get(path)


def test_failing_receiver_does_not_block_the_way_back(
    client: Client, visit: PortalSession, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_receiver(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("analytics down")

    portal_session_returned.connect(broken_receiver)
    try:
        response = client.get(return_path(sign_return_key(visit.return_key)))
    finally:
        portal_session_returned.disconnect(broken_receiver)

    assert response["Location"] == "/account/?tab=billing"
    visit.refresh_from_db()
    assert visit.returned_at is not None
    assert "analytics down" in caplog.text
