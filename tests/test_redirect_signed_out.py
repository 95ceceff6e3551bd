"""Signed-out clicks: a JSON client gets a 401 it can act on, a browser the login page;
under WSGI and ASGI, with or without Django's LoginRequiredMiddleware."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient, Client

from django_stripe_portal.models import PortalSession
from tests.portal_support import FakePortalApi

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"
LOGIN_REDIRECT = f"/accounts/login/?next={PORTAL}"

JSON = {"Accept": "application/json"}
#: What browsers send: HTML first, so the redirect it has always had.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
BOTH = {"Accept": "text/html, application/json"}

LOGIN_REQUIRED_MIDDLEWARE = [
    *settings.MIDDLEWARE,
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]


@pytest.fixture(params=["middleware off", "LoginRequiredMiddleware"])
def login_middleware(request: pytest.FixtureRequest, settings: Any) -> None:
    if request.param == "LoginRequiredMiddleware":
        settings.MIDDLEWARE = LOGIN_REQUIRED_MIDDLEWARE


def _post(client: Client | AsyncClient, headers: dict[str, str]) -> Any:
    form = {"flow": "payment_method_update"}
    if isinstance(client, AsyncClient):
        return async_to_sync(client.post)(PORTAL, form, headers=headers)
    return client.post(PORTAL, form, headers=headers)


@pytest.fixture(params=["wsgi", "asgi"])
def anonymous(request: pytest.FixtureRequest) -> Client | AsyncClient:
    return Client() if request.param == "wsgi" else AsyncClient()


def test_a_signed_out_json_client_gets_401_with_the_login_url(
    anonymous: Client | AsyncClient, login_middleware: None, portal_api: FakePortalApi
) -> None:
    response = _post(anonymous, JSON)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["login_url"] == "/accounts/login/"
    assert error["message"]
    assert portal_api.calls == []
    assert not PortalSession.objects.exists()


@pytest.mark.parametrize("headers", [BROWSER, BOTH, {}], ids=["browser", "html and json", "none"])
def test_a_signed_out_browser_still_goes_to_the_login_page(
    anonymous: Client | AsyncClient,
    login_middleware: None,
    portal_api: FakePortalApi,
    headers: dict[str, str],
) -> None:
    response = _post(anonymous, headers)

    assert response.status_code == 302
    assert response["Location"] == LOGIN_REDIRECT
    assert portal_api.calls == []


def test_a_signed_in_json_client_still_gets_the_portal_url(
    signed_in: Client, login_middleware: None, portal_api: FakePortalApi
) -> None:
    response = _post(signed_in, JSON)

    assert response.status_code == 200
    assert response.json() == {"url": portal_api.url}


def test_a_signed_out_json_get_is_told_to_sign_in_too(anonymous: Client | AsyncClient) -> None:
    """A GET opens nothing (a signed-in one is sent to RETURN_URL); signed out, a JSON
    client still learns that it must sign in first."""
    if isinstance(anonymous, AsyncClient):
        response = async_to_sync(anonymous.get)(PORTAL, headers=JSON)
    else:
        response = anonymous.get(PORTAL, headers=JSON)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
