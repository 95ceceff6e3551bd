"""The bench's servers: one gunicorn (sync workers) per target, started and stopped
together, their workers' memory, and py-spy on them (``--profile``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from databases import Database
from scale import BENCH, GUNICORN, OUT, ROOT, BenchBroken


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One gunicorn (sync workers) serving the bench project on one database."""

    label: str
    db: Database
    processing: str = "sync"
    workers: int = 2
    count_sql: bool = False
    stripe_api: str = ""
    env: dict[str, str] = field(default_factory=dict)  # more settings (``BENCH_TASK_ENGINE``)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return OUT / f"gunicorn_{self.label}.log"

    def start(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.db.env(),
            "DJANGO_SETTINGS_MODULE": "benchproject.settings",
            "BENCH_PROCESSING": self.processing,
            "BENCH_COUNT_SQL": "1" if self.count_sql else "0",
            "BENCH_STRIPE_API": self.stripe_api,
            **self.env,
        }
        command = [
            GUNICORN,
            "benchproject.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.workers}",
            "--worker-class=sync",
            "--max-requests=0",
            "--timeout=120",
            f"--pythonpath={BENCH},{ROOT}",
            "--log-level=warning",
            f"--error-logfile={self.log_path}",
        ]
        self.process = subprocess.Popen(command, env=env, cwd=ROOT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchBroken(f"{self.label} exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/", timeout=2):
                    if len(self.worker_pids()) == self.workers:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchBroken(f"{self.label} did not start; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def serving(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start every server at once, wait for all, stop all on the way out."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchBroken(f"no VmRSS for {pid}")


def start_profilers(servers: list[Server]) -> list[subprocess.Popen[bytes]]:
    """py-spy on every worker (``--profile``): collapsed stacks in ``bench/out/``."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    profilers = []
    for server in servers:
        for pid in server.worker_pids():
            out = OUT / f"profile_{server.label}_{pid}.txt"
            profilers.append(
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--output",
                        str(out),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    return profilers


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(timeout=60)


def distinct(*groups: Iterable[Server]) -> list[Server]:
    """Every server of the groups once (a smoke run counts on its timed servers)."""
    servers: list[Server] = []
    for group in groups:
        servers += [s for s in group if all(s is not t for t in servers)]
    return servers


def stop_counters(counting: Iterable[Server], timed: Iterable[Server]) -> None:
    """Stop the counting servers (not the timed ones) before the timed rounds."""
    timed_servers = list(timed)
    for server in counting:
        if all(server is not t for t in timed_servers):
            server.stop()
