"""Shared pieces of the redirect/return view tests: a Stripe that answers like Stripe."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses
from django.test import Client

from tests import contract, stripe_objects
from tests.conftest import STRIPE_API
from tests.factories import StripeCustomerFactory

SESSIONS_URL = f"{STRIPE_API}/v1/billing_portal/sessions"
CUSTOMER_ID = "cus_portaltest01"


def decode_body(body: str | bytes | None) -> dict[str, Any]:
    """A form body as nested dicts/lists, exactly as Stripe would parse it."""
    decoded: dict[str, Any] = contract.validator().decode_form(body or "")
    return decoded


@dataclass
class FakePortalApi:
    """Answers ``POST /v1/billing_portal/sessions`` with a session shaped from the request."""

    mock: responses.RequestsMock
    session_id: str | None = None
    request_id: str = "req_portaltest"
    answered: list[dict[str, Any]] = field(default_factory=list)
    #: The ``customer`` Stripe answers beside a ``customer_account`` (Accounts v2).
    customer_of_account: str = "cus_ofaccount0001"
    #: Called with each session before it is answered (a webhook that beats the answer).
    before_answer: Callable[[dict[str, Any]], None] | None = None

    def install(self) -> FakePortalApi:
        self.mock.add_callback(responses.POST, SESSIONS_URL, callback=self.answer)
        return self

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = decode_body(request.body)
        if "customer_account" in params:
            # An Accounts v2 customer: Stripe names the customer beside the account.
            session = stripe_objects.portal_session(
                id=self.session_id,
                customer=self.customer_of_account,
                customer_account=params["customer_account"],
            )
        else:
            session = stripe_objects.portal_session(id=self.session_id, customer=params["customer"])
        session.update(
            return_url=params.get("return_url"),
            configuration=params.get("configuration", "bpc_accountdefault"),
            locale=params.get("locale"),
        )
        self.answered.append(session)
        if self.before_answer is not None:
            self.before_answer(session)
        return 200, {"Request-Id": self.request_id}, json.dumps(session)

    @property
    def calls(self) -> list[Any]:
        return [call for call in self.mock.calls if call.request.url == SESSIONS_URL]

    def sent(self, index: int = -1) -> dict[str, Any]:
        """The body of one call, after checking it against Stripe's published schema."""
        request = self.calls[index].request
        return contract.validate_request("POST", request.url, request.body)

    @property
    def url(self) -> str:
        return str(self.answered[-1]["url"])


def stripe_error_answer(
    mock: responses.RequestsMock,
    status: int,
    *,
    error_type: str = "invalid_request_error",
    message: str = "No such customer: 'cus_portaltest01'",
    code: str | None = "resource_missing",
    request_id: str = "req_failed123",
) -> None:
    body = {"error": {"type": error_type, "message": message, "code": code}}
    mock.add(
        responses.POST,
        SESSIONS_URL,
        json=body,
        status=status,
        headers={"Request-Id": request_id, "Stripe-Should-Retry": "false"},
    )


@pytest.fixture
def portal_api(stripe_mock: responses.RequestsMock) -> FakePortalApi:
    return FakePortalApi(stripe_mock).install()


@pytest.fixture
def customer_link(db: None) -> Any:
    return StripeCustomerFactory(customer_id=CUSTOMER_ID)


@pytest.fixture
def signed_in(client: Client, customer_link: Any) -> Client:
    """A client signed in as a user linked to ``CUSTOMER_ID``."""
    client.force_login(customer_link.user)
    return client
