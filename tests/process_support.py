"""Real processes for the tests that need them: gunicorn and task workers started on
127.0.0.1 against the test database, and polling for what another process did."""

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
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from django.db import connection

from django_stripe_portal.testing import sign_payload
from tests.webhook_support import SECRET, WEBHOOK_URL

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll for a condition the test cannot be told about (another process's progress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def post_body(port: int, body: str, timeout: float = 60) -> int:
    """POST a signed webhook body to the server on ``port``; the status code."""
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


def server_up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", WEBHOOK_URL)
        return conn.getresponse().status == 405
    except OSError:
        return False


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def child_env(settings_module: str, **extra: str) -> dict[str, str]:
    """The environment for a child process that uses this test's PostgreSQL database."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **extra,
    }


@contextmanager
def running(
    args: list[str], env: dict[str, str], log: Path, *, ready: Callable[[], bool] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process for the block, leading a session of its own: stopped with SIGTERM
    (then SIGKILL) at the end, with every process it started (an RQ worker's scheduler
    outlives a worker the test SIGKILLed)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if ready is not None:
            wait_until(lambda: ready() or process.poll() is not None, f"{args[:3]} to start")
            assert process.poll() is None, log.read_text()
        yield process
    finally:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        _signal_group(process.pid, signal.SIGKILL)  # whatever of the group is left


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass  # the group is gone


@contextmanager
def gunicorn(wsgi: str, env: dict[str, str], log: Path, workers: int = 2) -> Iterator[int]:
    """gunicorn serving ``wsgi`` on a free port of 127.0.0.1; yields the port."""
    port = free_port()
    args = ["-m", "gunicorn", wsgi, "-b", f"127.0.0.1:{port}", "-w", str(workers)]
    with running([*args, "--timeout", "120"], env, log, ready=lambda: server_up(port)):
        yield port


@contextmanager
def local_stripe(answers: dict[str, dict[str, Any]]) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server answering ``GET path`` with ``answers[path]`` (or, failing that, the
    answer for the path without its query string); yields its URL and the paths asked for
    (with their query strings)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            answer = answers.get(self.path) or answers.get(self.path.split("?", 1)[0])
            body = json.dumps(answer or {"error": {"type": "invalid_request_error"}})
            self.send_response(200 if answer else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
