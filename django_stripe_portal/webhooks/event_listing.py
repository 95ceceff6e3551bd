"""``GET /v1/events`` of one account, page by page: what catch-up lists.

The platform's listing holds the platform's events only; a connected account's are
listed with ``Stripe-Account`` (Connect platforms), each carrying ``account`` as a
Connect endpoint's delivery of it does, so that everything downstream (the endpoint
check aside, which a listing read with the API key does not need) sees the same event.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from stripe import StripeClient
from stripe.params import EventListParams

#: Stripe's most per page.
PAGE_SIZE = 100


def list_params(start: datetime, types: list[str], undelivered: bool) -> EventListParams:
    """The first page's query: ``created[gte]`` the window's start, the types, and
    ``delivery_success=false`` for undelivered events only."""
    params: EventListParams = {
        "limit": PAGE_SIZE,
        "created": {"gte": int(start.timestamp())},
    }
    if types:
        params["types"] = types
    if undelivered:
        params["delivery_success"] = False
    return params


class EventListing:
    """``GET /v1/events`` of one account: the platform's, or (``Stripe-Account``) a
    connected account's, whose events the platform's listing never includes."""

    def __init__(self, client: StripeClient, account: str) -> None:
        self.client = client
        self.account = account

    def pages(self, params: EventListParams) -> Iterator[list[dict[str, Any]]]:
        """The events of each page, as the JSON Stripe sent; a connected account's each
        carrying ``account``, as a Connect endpoint's delivery of it does.

        ``raw_request`` (the client's retries, version and errors all the same) rather
        than ``v1.events.list``: building the SDK's objects for each nested field was nine
        tenths of the listing's time, and a listed event must be what a delivery of it
        carries anyway, not the SDK's rendering of it.
        """
        options = {"stripe_account": self.account} if self.account else {}
        while True:
            response = self.client.raw_request("get", "/v1/events", **params, **options)
            page = response.data if isinstance(response.data, dict) else {}
            events: list[dict[str, Any]] = list(page.get("data") or [])
            if self.account:
                for event in events:
                    if isinstance(event, dict) and not event.get("account"):
                        event["account"] = self.account
            if events:
                yield events
            if not page.get("has_more") or not events:
                return
            params["starting_after"] = str(events[-1]["id"])
