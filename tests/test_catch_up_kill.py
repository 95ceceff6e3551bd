"""``fetch_stripe_events`` SIGKILLed in the middle of its second page of 100 events: the
first page stays committed, the second is rolled back whole, and a second run stores and
dispatches the rest: every event stored once and processed.

Real processes, a real PostgreSQL: the command runs as a child with the ``tests.killtest``
receiver, which blocks mid-dispatch once a number of dispatches went through, and lists
from a local stand-in of ``GET /v1/events``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import WebhookEvent
from tests import stripe_objects as so
from tests.process_support import ROOT, child_env, lines, local_stripe, running, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]
COMMAND = ["-m", "django", "fetch_stripe_events", "--hours", "2", "--type", "customer.updated"]


def _listing(count: int) -> dict[str, Any]:
    """``count`` ``customer.updated`` events of the last hour, newest first, as Stripe lists."""
    start = int(time.time()) - 3600
    events = [
        so.event(
            "customer.updated",
            so.customer(id=so.unique_id("cus"), email="new@example.com"),
            previous_attributes={"email": "old@example.com"},
            created=start + step,
        )
        for step in range(count)
    ]
    return {"object": "list", "url": "/v1/events", "has_more": False, "data": events[::-1]}


def test_catch_up_killed_mid_page_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path,
) -> None:
    listing = _listing(150)
    (tmp_path / "block").write_text("120")  # the 121st dispatch, in the second page, waits
    with local_stripe({"/v1/events": listing}) as (api_base, _asked):
        env = child_env(
            "tests.killtest.settings", KILLTEST_DIR=str(tmp_path), STRIPE_API_BASE=api_base
        )
        with running(COMMAND, env, tmp_path / "first.log") as first:
            wait_until(lambda: len(lines(tmp_path / "started")) > 120, "the 121st dispatch")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        # The first page committed; the second was rolled back with the process.
        assert WebhookEvent.objects.count() == 100
        (tmp_path / "block").unlink()
        second = subprocess.run(
            [sys.executable, *COMMAND],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "150 event(s): 50 new, 100 already stored, 0 failed" in second.stdout
    stored = list(WebhookEvent.objects.values_list("stripe_id", "status"))
    assert sorted(stripe_id for stripe_id, _ in stored) == sorted(e["id"] for e in listing["data"])
    assert {status for _, status in stored} == {WebhookEvent.Status.PROCESSED}
