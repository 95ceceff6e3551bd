"""A gunicorn worker SIGKILLed while a receiver runs: the delivery waiting behind it
proceeds at once, and the event ends processed, dispatched to completion exactly once.

Real processes, a real PostgreSQL: gunicorn serves the test database with the
``tests.killtest`` receiver, which blocks mid-dispatch while a file exists.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import WebhookEvent
from tests import stripe_objects as so
from tests.process_support import child_env, gunicorn, lines, post_body, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def _backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    env = child_env("tests.killtest.settings", KILLTEST_DIR=str(tmp_path))
    with gunicorn("tests.killtest.wsgi:application", env, tmp_path / "gunicorn.log") as port:
        yield port, tmp_path


def test_killed_worker_mid_dispatch_leaves_the_event_to_the_waiting_redelivery(
    server: tuple[int, Path],
) -> None:
    port, directory = server
    sub = so.subscription(cancel_at_period_end=True)
    event = so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )
    body = json.dumps(event)
    (directory / "block").touch()

    results: dict[str, Any] = {}

    def deliver(name: str) -> None:
        try:
            results[name] = post_body(port, body)
        except (OSError, http.client.HTTPException) as exc:
            results[name] = exc

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    killed_pid = int(wait_until(lambda: lines(directory / "started"), "the receiver to start")[0])

    # Stripe's retry arrives while the first worker is still inside the dispatch: it must
    # wait on the event's lock, not dispatch a second time.
    second = threading.Thread(target=deliver, args=("second",))
    second.start()
    wait_until(_backends_waiting_on_a_lock, "the redelivery to wait on the event's lock")
    assert lines(directory / "started") == [str(killed_pid)]

    (directory / "block").unlink()
    os.kill(killed_pid, signal.SIGKILL)
    second.join(timeout=60)
    first.join(timeout=60)

    assert results["second"] == 200
    assert not isinstance(results["first"], int) or results["first"] >= 500
    started, completed = lines(directory / "started"), lines(directory / "completed")
    assert len(started) == 2 and started[0] == str(killed_pid)
    assert completed == [started[1]], "dispatched to completion exactly once, by the survivor"
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.PROCESSED, 1)

    # A later redelivery changes nothing.
    assert post_body(port, body) == 200
    assert lines(directory / "completed") == completed
