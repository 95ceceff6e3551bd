from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses as responses_lib

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
