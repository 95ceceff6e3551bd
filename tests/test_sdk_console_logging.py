"""``STRIPE_LOG=debug`` makes the stripe SDK print response bodies to stderr itself,
past ``logging`` and so past the filter that redacts portal session URLs. What holds:
the SDK's log records are redacted; its own prints are not, and check W014 says so."""

from __future__ import annotations

import logging

import pytest
import stripe
from django.core.checks import run_checks
from django.test import Client

from tests.portal_support import FakePortalApi

PORTAL = "/billing/portal/"


def _w013() -> list[str]:
    return [message.msg for message in run_checks() if message.id == "stripe_portal.W014"]


@pytest.fixture
def sdk_console(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Neither ``stripe.log`` nor ``STRIPE_LOG`` set, whatever the environment says."""
    monkeypatch.setattr(stripe, "log", None)
    monkeypatch.delenv("STRIPE_LOG", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("stripe_log", "env", "warned"),
    [
        (None, None, False),
        ("debug", None, True),
        (None, "debug", True),
        ("info", None, False),
        (None, "info", False),
        # The SDK reads stripe.log first when it is "debug" or "info", then STRIPE_LOG.
        ("info", "debug", False),
        ("warning", "debug", True),
    ],
)
def test_w013_warns_exactly_when_the_sdk_prints_bodies(
    sdk_console: pytest.MonkeyPatch, stripe_log: str | None, env: str | None, warned: bool
) -> None:
    sdk_console.setattr(stripe, "log", stripe_log)
    if env is not None:
        sdk_console.setenv("STRIPE_LOG", env)
    messages = _w013()
    assert bool(messages) is warned
    if warned:
        assert "bypasses logging" in messages[0]


@pytest.mark.django_db
def test_with_stripe_log_debug_the_url_reaches_stderr_which_is_why_w013_warns(
    sdk_console: pytest.MonkeyPatch,
    signed_in: Client,
    portal_api: FakePortalApi,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hazard W014 names is real with the installed SDK: if this stops printing the
    URL (the SDK routes its console output through logging), W014 can go."""
    sdk_console.setattr(stripe, "log", "debug")
    response = signed_in.post(PORTAL, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert portal_api.url in capsys.readouterr().err
    assert _w013()


@pytest.mark.django_db
def test_the_sdks_debug_log_records_never_carry_the_url(
    sdk_console: pytest.MonkeyPatch,
    signed_in: Client,
    portal_api: FakePortalApi,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The way docs/security.md recommends: the 'stripe' logger at DEBUG, no STRIPE_LOG."""
    with caplog.at_level(logging.DEBUG, logger="stripe"):
        response = signed_in.post(PORTAL, headers={"Accept": "application/json"})
    assert response.status_code == 200
    body_lines = [r for r in caplog.records if r.name == "stripe" and "response body" in r.msg]
    assert body_lines, "the SDK logged no response body: the test would prove nothing"
    assert portal_api.url not in caplog.text
    assert "[redacted]" in caplog.text
    assert portal_api.url not in capsys.readouterr().err
    assert not _w013()
