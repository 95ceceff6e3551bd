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
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.testing import sign_payload
from tests import stripe_objects as so
from tests.webhook_support import SECRET, WEBHOOK_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll for a condition the test cannot be told about (another process's progress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _post(port: int, body: str, timeout: float = 60) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            WEBHOOK_URL,
            body=body.encode(),
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign_payload(body, SECRET),
            },
        )
        return conn.getresponse().status
    finally:
        conn.close()


def _server_up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", WEBHOOK_URL)
        return conn.getresponse().status == 405
    except OSError:
        return False


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.killtest.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "KILLTEST_DIR": str(tmp_path),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.killtest.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until(lambda: _server_up(port) or server.poll() is not None, "gunicorn to start")
        assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
        yield port, tmp_path
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_killed_worker_mid_dispatch_leaves_the_event_to_the_waiting_redelivery(
    gunicorn: tuple[int, Path],
) -> None:
    port, directory = gunicorn
    sub = so.subscription(cancel_at_period_end=True)
    event = so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )
    body = json.dumps(event)
    (directory / "block").touch()

    results: dict[str, Any] = {}

    def deliver(name: str) -> None:
        try:
            results[name] = _post(port, body)
        except (OSError, http.client.HTTPException) as exc:
            results[name] = exc

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    killed_pid = int(_wait_until(lambda: _lines(directory / "started"), "the receiver to start")[0])

    # Stripe's retry arrives while the first worker is still inside the dispatch: it must
    # wait on the event's lock, not dispatch a second time.
    second = threading.Thread(target=deliver, args=("second",))
    second.start()
    _wait_until(_backends_waiting_on_a_lock, "the redelivery to wait on the event's lock")
    assert _lines(directory / "started") == [str(killed_pid)]

    (directory / "block").unlink()
    os.kill(killed_pid, signal.SIGKILL)
    second.join(timeout=60)
    first.join(timeout=60)

    assert results["second"] == 200
    assert not isinstance(results["first"], int) or results["first"] >= 500
    started, completed = _lines(directory / "started"), _lines(directory / "completed")
    assert len(started) == 2 and started[0] == str(killed_pid)
    assert completed == [started[1]], "dispatched to completion exactly once, by the survivor"
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.PROCESSED, 1)

    # A later redelivery changes nothing.
    assert _post(port, body) == 200
    assert _lines(directory / "completed") == completed
