"""Portal configurations on several Stripe accounts at once (Connect), for `responses`.

Each account (``""``: the platform) is its own :class:`FakeStripeConfigurations`, chosen
by the request's ``Stripe-Account`` header exactly as Stripe scopes a request; an
account in ``revoked`` answers what Stripe answers once a connected account has
disconnected from the platform.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import responses

from tests import stripe_objects
from tests.fake_stripe_configs import (
    _LIST_URL,
    _ONE_URL,
    FakeStripeConfigurations,
)

Answer = tuple[int, dict[str, str], str]


@dataclass
class FakeConnectConfigurations:
    mock: responses.RequestsMock
    accounts: dict[str, FakeStripeConfigurations] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    #: (account header or None, method, path) of every request, in order.
    log: list[tuple[str | None, str, str]] = field(default_factory=list)

    def install(self) -> FakeConnectConfigurations:
        self.mock.add_callback(responses.GET, _LIST_URL, callback=self._route("_list"))
        self.mock.add_callback(responses.POST, _LIST_URL, callback=self._route("_create"))
        self.mock.add_callback(responses.GET, _ONE_URL, callback=self._route("_retrieve"))
        self.mock.add_callback(responses.POST, _ONE_URL, callback=self._route("_update"))
        return self

    def on(self, account: str) -> FakeStripeConfigurations:
        """The configurations of one account (created on first use)."""
        if account not in self.accounts:
            self.accounts[account] = FakeStripeConfigurations(self.mock)
        return self.accounts[account]

    def _route(self, handler: str) -> Callable[[Any], Answer]:
        def answer(request: Any) -> Answer:
            header = request.headers.get("Stripe-Account")
            self.log.append((header, request.method, request.path_url.split("?")[0]))
            account = header or ""
            if account in self.revoked:
                return _revoked(account)
            return getattr(self.on(account), handler)(request)  # type: ignore[no-any-return]

        return answer


def _revoked(account: str) -> Answer:
    body = {
        "error": {
            "type": "invalid_request_error",
            "message": (
                "The provided key 'sk_test_********ests' does not have access to account "
                f"'{account}' (or that account does not exist). Application access may have "
                "been revoked."
            ),
        }
    }
    headers = {"Request-Id": stripe_objects.unique_id("req"), "Stripe-Should-Retry": "false"}
    return 403, headers, json.dumps(body)
