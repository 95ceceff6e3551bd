"""The demo's Stripe stand-in started in this process for tests of the example project,
with the app pointed at it (``API_BASE``) and its webhooks sent to the live server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import responses
from django.test import override_settings
from stripe_standin import StandIn, start_standin

SECRET = "whsec_tests"
THIN_SECRET = "whsec_tests_thin"
API_KEY = "sk_test_offlinedemo"


@contextmanager
def running_standin(
    live_server: Any,
    stripe_mock: responses.RequestsMock,
    tmp_path: Path,
    *,
    connect_secret: str | None = None,
    delivery: str = "snapshot",
    **portal: Any,
) -> Iterator[StandIn]:
    """The stand-in, signing webhooks with ``SECRET`` (Connect ones with
    ``connect_secret``, thin notifications with ``THIN_SECRET`` when ``delivery`` is
    ``"thin"`` or ``"both"``), and ``STRIPE_PORTAL`` set to reach it, plus ``portal``."""
    running = start_standin(
        port=0,
        webhook_url=f"{live_server.url}/billing/webhook/",
        webhook_secret=SECRET,
        state_path=tmp_path / "standin.json",
        delivery=delivery,
        thin_url=f"{live_server.url}/billing/events/",
        thin_secret=THIN_SECRET,
        **({"connect_webhook_secret": connect_secret} if connect_secret else {}),
    )
    stripe_mock.add_passthru(running.url)
    settings = {
        "API_KEY": API_KEY,
        "WEBHOOK_SECRETS": [SECRET],
        "EVENT_DESTINATION_SECRETS": [THIN_SECRET],
        "API_BASE": running.url,
        "MAX_NETWORK_RETRIES": 0,
        **portal,
    }
    try:
        with override_settings(STRIPE_PORTAL=settings):
            yield running
    finally:
        running.stop()
