"""How much work each part of the benchmark does, where its files are, and how it logs.

``FULL`` is ``make bench``, ``SMOKE`` is ``make bench-smoke`` (tiny counts, CI).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: How every PostgreSQL database the bench creates is named: ``bench_…`` by default;
#: ``BENCH_PG_PREFIX`` gives a checkout sharing the server names of its own.
PG_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")


@dataclass
class Scale:
    """How much work each part does."""

    rounds: int
    webhook_count: int  # deliveries per round per target
    round_seconds: float  # time bound of one round
    threads: int
    redirect_count: int
    preload_rows: int
    memory_requests: int
    memory_seconds: float  # time bound of the memory part
    memory_checkpoints: int
    count_pass: int  # deliveries (or clicks) of the SQL counting pass
    warmup: int
    workers: int  # sync workers per timed server
    drain_events: int = 2000  # events stored before the engine's workers start (part engines)
    latency_seconds: float = 20  # how long the steady load of the latency runs lasts


FULL = Scale(
    rounds=6,
    webhook_count=4000,
    round_seconds=8,
    threads=4,
    redirect_count=3000,
    preload_rows=1_000_000,
    memory_requests=100_000,
    memory_seconds=1800,
    memory_checkpoints=25,
    count_pass=60,
    warmup=60,
    workers=2,
)
SMOKE = Scale(
    rounds=2,
    webhook_count=30,
    round_seconds=20,
    threads=3,
    redirect_count=20,
    preload_rows=2000,
    memory_requests=300,
    memory_seconds=120,
    memory_checkpoints=3,
    count_pass=20,
    warmup=10,
    workers=1,
    drain_events=40,
    latency_seconds=3,
)


class BenchBroken(Exception):
    """Something did not work (as opposed to a slow figure)."""


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def short_count(rows: int) -> str:
    """1000000 → "1M", 2000 → "2k" (in labels and reports)."""
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"
