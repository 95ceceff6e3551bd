"""Start gunicorn on 127.0.0.1 against the test database, for tests of real requests.

Headers then arrive as a WSGI server hands them over (bytes decoded as latin-1, PEP
3333), bodies through a real socket, each request in a worker process.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from tests.webhook_support import WEBHOOK_URL

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


def server_up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", WEBHOOK_URL)
        return conn.getresponse().status == 405
    except OSError:
        return False


@contextmanager
def gunicorn(
    log_path: Path,
    *,
    wsgi: str = "tests.wsgi:application",
    settings: str = "tests.settings",
    workers: int = 2,
    env: dict[str, str] | None = None,
) -> Iterator[int]:
    """Serve the test database (PostgreSQL) with ``workers`` workers; yields the port."""
    port = free_port()
    db = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **(env or {}),
    }
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", wsgi, "-b", f"127.0.0.1:{port}", "-w", str(workers)],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: server_up(port) or server.poll() is not None, "gunicorn to start")
            assert server.poll() is None, log_path.read_text()
            yield port
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
