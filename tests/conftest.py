from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses as responses_lib

from tests import contract
from tests.fake_stripe_events import FakeStripeEvents

STRIPE_API = "https://api.stripe.com"

# Fixtures of the portal button tests (signed-in client, a Stripe that answers sessions).
pytest_plugins = ["tests.portal_support"]


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[responses_lib.RequestsMock]:
    """Every test runs under `responses`: an unexpected Stripe call fails the test."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def stripe_mock(_no_network: responses_lib.RequestsMock) -> responses_lib.RequestsMock:
    """The active `responses` mock, to register Stripe answers and read the calls made."""
    return _no_network


@pytest.fixture
def stripe_events(stripe_mock: responses_lib.RequestsMock) -> Iterator[FakeStripeEvents]:
    """A fake of Stripe's ``GET /v1/events`` (``tests.fake_stripe_events``); fails the test
    if the app sent it a request Stripe would refuse."""
    fake = FakeStripeEvents(stripe_mock).install()
    yield fake
    assert fake.refused == [], "requests Stripe would refuse"


@pytest.fixture(autouse=True)
def _accepted_events_fit_stripes_schema(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every event a test gets past the parser (a delivery to the webhook view or an event
    ``fetch_stripe_events`` listed) is checked against Stripe's schema, ``data.object``
    included: the app is tested on payloads Stripe could send.

    Tests that feed malformed or hostile payloads on purpose say so with
    ``@pytest.mark.off_contract``.
    """
    if request.node.get_closest_marker("off_contract") or not contract.available():
        yield
        return
    from django_stripe_portal.webhooks import accept

    parse_event = accept.parse_event
    misfits: list[str] = []

    def parse_and_check(body: bytes) -> dict[str, Any]:
        event = parse_event(body)
        misfits.extend(contract.misfits_of_event(event))
        return event

    monkeypatch.setattr(accept, "parse_event", parse_and_check)
    yield
    assert not misfits, "events that do not fit Stripe's schema:\n" + "\n".join(misfits)
