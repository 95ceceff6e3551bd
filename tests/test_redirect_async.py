"""The redirect view under ASGI: the Stripe call runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import responses
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from django_stripe_portal.models import PortalSession
from tests.portal_support import CUSTOMER_ID, SESSIONS_URL, FakePortalApi, stripe_error_answer

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"


@pytest.fixture
def async_client(customer_link: Any) -> AsyncClient:
    client = AsyncClient()
    client.force_login(customer_link.user)
    return client


def test_click_under_asgi(async_client: AsyncClient, portal_api: FakePortalApi) -> None:
    response = async_to_sync(async_client.post)(PORTAL, {"return_to": "/account/"})

    assert response.status_code == 303
    assert response["Location"] == portal_api.url
    assert portal_api.sent()["customer"] == CUSTOMER_ID
    row = PortalSession.objects.get()
    assert (row.return_to, row.source) == ("/account/", PortalSession.Source.APP)


def test_get_under_asgi_goes_back(async_client: AsyncClient, portal_api: FakePortalApi) -> None:
    response = async_to_sync(async_client.get)(PORTAL)

    assert response.status_code == 303
    assert response["Location"] == "/"
    assert portal_api.calls == []


def test_json_under_asgi(async_client: AsyncClient, portal_api: FakePortalApi) -> None:
    response = async_to_sync(async_client.post)(PORTAL, headers={"Accept": "application/json"})

    assert response.json() == {"url": portal_api.url}


def test_stripe_error_under_asgi(
    async_client: AsyncClient, stripe_mock: responses.RequestsMock
) -> None:
    stripe_error_answer(stripe_mock, 400)

    response = async_to_sync(async_client.post)(PORTAL, {"return_to": "/account/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert PortalSession.objects.count() == 0


def test_stripe_call_does_not_hold_the_event_loop(
    async_client: AsyncClient, stripe_mock: responses.RequestsMock
) -> None:
    """While Stripe is answering, the loop must be free to run other work.

    The fake Stripe asks the loop to set an event and waits for it: if the call ran on
    the loop's thread, the loop could not run that callback and the wait would time out.
    """
    fake = FakePortalApi(stripe_mock)
    loop_answered: list[bool] = []
    threads: dict[str, int] = {}

    async def scenario() -> Any:
        loop = asyncio.get_running_loop()
        threads["loop"] = threading.get_ident()
        loop_ran = threading.Event()

        def slow_stripe(request: Any) -> tuple[int, dict[str, str], str]:
            threads["stripe"] = threading.get_ident()
            loop.call_soon_threadsafe(loop_ran.set)
            loop_answered.append(loop_ran.wait(timeout=5))
            return fake.answer(request)

        stripe_mock.add_callback(responses.POST, SESSIONS_URL, callback=slow_stripe)
        return await async_client.post(PORTAL)

    response = async_to_sync(scenario)()

    assert response.status_code == 303
    assert loop_answered == [True]
    assert threads["stripe"] != threads["loop"]
    assert PortalSession.objects.count() == 1


def test_wsgi_click_stays_in_the_request_thread(
    signed_in: Any, stripe_mock: responses.RequestsMock
) -> None:
    """Under WSGI the view is plain synchronous code: no event loop, no thread hop."""
    fake = FakePortalApi(stripe_mock)
    stripe_threads: list[int] = []

    def answer(request: Any) -> Any:
        stripe_threads.append(threading.get_ident())
        return fake.answer(request)

    stripe_mock.add_callback(responses.POST, SESSIONS_URL, callback=answer)

    response = signed_in.post(PORTAL)

    assert response.status_code == 303
    assert stripe_threads == [threading.get_ident()]


def test_view_is_a_coroutine_function_only_on_an_event_loop() -> None:
    from asgiref.sync import iscoroutinefunction

    from django_stripe_portal.views.redirect import portal_redirect

    async def asked_on_the_loop() -> bool:
        return iscoroutinefunction(portal_redirect)

    assert iscoroutinefunction(portal_redirect) is False
    assert async_to_sync(asked_on_the_loop)() is True
    assert portal_redirect._non_atomic_requests == {"default"}


def test_asgi_click_costs_the_same_queries(
    async_client: AsyncClient, portal_api: FakePortalApi, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(4):  # session, user, customer link, insert
        response = async_to_sync(async_client.post)(PORTAL)

    assert response.status_code == 303
