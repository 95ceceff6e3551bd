"""Commands that call Stripe, run where Stripe cannot be reached: one line that names the
host, why, and what was (not) changed, never the SDK's multi-line boilerplate.

The requests really leave the process (``responses`` lets them through) and really fail:
a closed local port, and a name under ``.invalid`` (a TLD that never resolves).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_stripe_portal.models import PortalConfiguration, StripeSubscription

pytestmark = pytest.mark.django_db

BODY: dict[str, Any] = {"features": {"invoice_history": {"enabled": True}}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def refused(stripe_mock: responses.RequestsMock) -> Iterator[str]:
    """Settings whose API_BASE is a local port nobody listens on."""
    host = f"127.0.0.1:{_closed_port()}"
    stripe_mock.add_passthru(f"http://{host}")
    portal = {
        "API_KEY": "sk_test_tests",
        "API_BASE": f"http://{host}",
        "MAX_NETWORK_RETRIES": 0,
        "CONFIGURATIONS": {"default": BODY},
    }
    with override_settings(STRIPE_PORTAL=portal):
        yield host


@pytest.fixture
def unresolvable(stripe_mock: responses.RequestsMock) -> Iterator[str]:
    host = "api.stripe.invalid"
    stripe_mock.add_passthru(f"https://{host}")
    portal = {
        "API_KEY": "sk_test_tests",
        "API_BASE": f"https://{host}",
        "MAX_NETWORK_RETRIES": 0,
        "CONFIGURATIONS": {"default": BODY},
    }
    with override_settings(STRIPE_PORTAL=portal):
        yield host


def _error_of(*args: str) -> str:
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=None)
    return str(raised.value)


def test_dry_run_without_network_says_it_still_reads_from_stripe(unresolvable: str) -> None:
    message = _error_of("sync_portal_configs", "--dry-run")
    assert message == (
        "Could not reach Stripe at api.stripe.invalid (its name does not resolve: no network, "
        "or no DNS); nothing was changed. --dry-run still reads the configurations from "
        "Stripe, so it needs the network too."
    )
    assert "\n" not in message
    assert not PortalConfiguration.objects.exists()


def test_check_without_network_names_check(refused: str) -> None:
    message = _error_of("sync_portal_configs", "--check")
    assert message == (
        f"Could not reach Stripe at {refused} (the connection was refused); nothing was "
        "changed. --check still reads the configurations from Stripe, so it needs the "
        "network too."
    )


def test_sync_without_network_says_to_run_again(refused: str) -> None:
    message = _error_of("sync_portal_configs")
    assert message == (
        f"Could not reach Stripe at {refused} (the connection was refused); nothing was "
        "changed. Run the command again once Stripe can be reached."
    )
    assert not PortalConfiguration.objects.exists()


def test_setup_stripe_webhook_without_network(refused: str) -> None:
    message = _error_of(
        "setup_stripe_webhook", "--url", "https://shop.example.com/billing/webhook/"
    )
    assert message == (
        f"Could not list webhook endpoints: could not reach Stripe at {refused} "
        "(the connection was refused); nothing was changed."
    )


def test_sync_subscriptions_without_network(unresolvable: str) -> None:
    message = _error_of("sync_subscriptions")
    assert message == (
        "Could not list the subscriptions: could not reach Stripe at api.stripe.invalid "
        "(its name does not resolve: no network, or no DNS). 0 subscription(s) were "
        "recorded before; running the command again is safe."
    )
    assert not StripeSubscription.objects.exists()


def test_no_sdk_boilerplate_in_any_of_them(refused: str) -> None:
    for args in (
        ("sync_portal_configs", "--dry-run"),
        ("setup_stripe_webhook", "--url", "https://shop.example.com/billing/webhook/"),
        ("sync_subscriptions",),
    ):
        message = _error_of(*args)
        assert "support@stripe.com" not in message
        assert "request id" not in message


def test_fetch_stripe_events_without_network(unresolvable: str) -> None:
    message = _error_of("fetch_stripe_events", "--hours", "1")
    assert message == (
        "Could not list the events: could not reach Stripe at api.stripe.invalid (its name "
        "does not resolve: no network, or no DNS), after STRIPE_PORTAL['MAX_NETWORK_RETRIES']=0 "
        "retries. Nothing was stored; running the command again is safe."
    )
