"""A stateful fake of Stripe's ``GET /v1/events``, for `responses`.

It keeps the events "created at Stripe" in order, lists them newest first in pages
(``limit``, ``starting_after``, ``has_more``), filters by ``created``, ``types`` and
``delivery_success`` as Stripe documents, lists a connected account's events only to a
request that names it in ``Stripe-Account`` (and the platform's only to one that names
none), and refuses what Stripe refuses: every
request is checked against Stripe's spec (../shared/stripe-openapi) and against the
rules its texts state (``types``: up to 20 names, not with ``type``; ``limit``: 1 to
100). A refused request is kept in ``refused`` so a test can assert there was none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import responses

from tests import contract
from tests import stripe_objects as so

URL = "https://api.stripe.com/v1/events"
_LIST_URL = re.compile(re.escape(URL) + r"(\?.*)?$")


@dataclass
class FakeStripeEvents:
    """Register with ``FakeStripeEvents(stripe_mock).install()``."""

    mock: responses.RequestsMock
    #: Every event Stripe holds, oldest first.
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Ids of events whose delivery did not succeed (``delivery_success=false`` lists them).
    undelivered: set[str] = field(default_factory=set)
    #: The query of every list request, as validated (coerced) by the spec.
    calls: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: Answer the next list requests with these (status, error body) instead.
    errors: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    #: The ``Stripe-Account`` of every list request (``""``: none, the platform).
    accounts_asked: list[str] = field(default_factory=list)
    #: Accounts the platform has no access to: their listing is refused with a 403.
    no_access: set[str] = field(default_factory=set)
    #: Leave ``account`` out of listed events (to show the app fills it from the request).
    omit_account_field: bool = False

    def install(self) -> FakeStripeEvents:
        self.mock.add_callback(responses.GET, _LIST_URL, callback=self._list)
        return self

    def create(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        delivered: bool = True,
        account: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """An event Stripe created (``tests.stripe_objects.event``), kept for the listing;
        with ``account``, one that happened in that connected account."""
        event = so.event(event_type, obj, **kwargs)
        if account is not None:
            event["account"] = account
        event["pending_webhooks"] = 0 if delivered else 1
        self.events.append(event)
        if not delivered:
            self.undelivered.add(event["id"])
        return event

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        account = request.headers.get("Stripe-Account") or ""
        self.accounts_asked.append(account)
        if account in self.no_access:
            body = {
                "error": {
                    "type": "invalid_request_error",
                    "code": "account_invalid",
                    "message": f"The provided key does not have access to account '{account}' "
                    "(or that account does not exist). Application access may have been revoked.",
                }
            }
            return 403, {"Request-Id": so.unique_id("req")}, json.dumps(body)
        if self.errors:
            status, body = self.errors.pop(0)
            return status, {"Request-Id": so.unique_id("req")}, json.dumps(body)
        try:
            query = contract.validate_request("GET", request.url, None)
        except contract.validator().StripeSchemaError as error:
            return self._refuse(str(error))
        self.calls.append(query)
        types = list(query.get("types") or [])
        limit = query.get("limit", 10)
        if len(types) > 20:
            return self._refuse(f"types: {len(types)} names given; the most is 20.")
        if types and "type" in query:
            return self._refuse("You may pass either `type` or `types`, but not both.")
        if not 1 <= limit <= 100:
            return self._refuse("limit must be between 1 and 100.")

        # Newest first; among events of one second, the one created later comes first.
        # The account's own events only: the platform's listing holds none of its accounts'.
        rows = [row for row in reversed(self.events) if (row.get("account") or "") == account]
        if self.omit_account_field:
            rows = [{key: value for key, value in row.items() if key != "account"} for row in rows]
        created = query.get("created")
        if isinstance(created, int):
            rows = [row for row in rows if row["created"] == created]
        elif isinstance(created, dict):
            bounds = {
                "gt": lambda t, b: t > b,
                "gte": lambda t, b: t >= b,
                "lt": lambda t, b: t < b,
                "lte": lambda t, b: t <= b,
            }
            for name, bound in created.items():
                rows = [row for row in rows if bounds[name](row["created"], bound)]
        if types:
            rows = [row for row in rows if row["type"] in types]
        if query.get("delivery_success") is False:
            rows = [row for row in rows if row["id"] in self.undelivered]
        elif query.get("delivery_success") is True:
            rows = [row for row in rows if row["id"] not in self.undelivered]
        after = query.get("starting_after")
        if after is not None:
            ids = [row["id"] for row in rows]
            if after not in ids:
                return self._refuse(f"No such event: '{after}'", param="starting_after")
            rows = rows[ids.index(after) + 1 :]
        body = {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(rows) > limit,
            "data": rows[:limit],
        }
        return 200, {"Request-Id": so.unique_id("req")}, json.dumps(body)

    def _refuse(self, message: str, param: str | None = None) -> tuple[int, dict[str, str], str]:
        self.refused.append(message)
        body = {"error": {"type": "invalid_request_error", "message": message, "param": param}}
        return 400, {"Request-Id": so.unique_id("req")}, json.dumps(body)
