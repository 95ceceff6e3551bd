"""The catch-up benchmark's stub lists real-shaped events in Stripe's pages, and the
command receives all of them: what ``bench/catch_up.py`` times is the real work."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
import responses
from django.core.management import call_command
from django.test import override_settings

from django_stripe_portal.models import WebhookEvent
from tests import contract

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import catch_up  # noqa: E402

pytestmark = [pytest.mark.django_db, contract.requires_openapi]


def test_the_bench_stub_pages_events_the_command_receives_once(
    stripe_mock: responses.RequestsMock,
) -> None:
    stub = catch_up.make_stub(0, 150, seed=4, validate=True)
    url = f"http://127.0.0.1:{stub.server_address[1]}"
    stripe_mock.add_passthru(url)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    try:
        portal = {"API_KEY": "sk_test_bench", "WEBHOOK_SECRETS": ["whsec_x"], "API_BASE": url}
        with override_settings(STRIPE_PORTAL=portal):
            out = StringIO()
            call_command("fetch_stripe_events", "--hours", "24", stdout=out, stderr=StringIO())
        with urllib.request.urlopen(f"{url}/__stats", timeout=5) as answer:
            stats = json.loads(answer.read())
    finally:
        stub.shutdown()
        stub.server_close()
    assert "Listed 150 event(s): 150 new, 0 already stored, 0 failed." in out.getvalue()
    # Two pages of the listing that holds the events, and one of the second listing
    # (past 20 handled types), which finds none.
    assert stats == {"requests": 3, "invalid": 0, "listed": 150}
    assert WebhookEvent.objects.filter(received_via="events_api").count() == 150
