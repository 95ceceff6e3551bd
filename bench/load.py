"""Sending load: the load generator's process (``loadgen.py``), one round at a time, and
the tally of what one target answered over all its rounds."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale import BENCH, PYTHON, ROOT, BenchBroken, Scale
from servers import Server


@dataclass
class Target:
    """One thing measured: a server, what it is sent (``webhook`` deliveries or portal
    ``redirect`` clicks), at which path, and where a webhook target stores its events."""

    server: Server
    kind: str
    path: str
    table: str = "app"
    sessions: Path | None = None  # the signed-in users' cookies of redirect clicks

    @property
    def label(self) -> str:
        return self.server.label


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class LoadGenerator:
    """The load generator's process, kept for the whole run and given one round at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(BENCH / "loadgen.py"), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )

    def round(self, **params: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(params) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise BenchBroken("the load generator exited")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


_generator: LoadGenerator | None = None


def load(
    target: Target,
    count: int,
    scale: Scale,
    *,
    prefix: str = "evt_bench",
    seed: int = 1,
    seconds: float | None = None,
    duplicates: float = 0.05,
) -> dict[str, Any]:
    """One round of the load generator against ``target`` (``duplicates``: the share of
    redeliveries)."""
    global _generator
    if _generator is None:
        _generator = LoadGenerator()
    result = _generator.round(
        kind=target.kind,
        port=target.server.port,
        path=target.path,
        count=count,
        seconds=seconds or scale.round_seconds,
        threads=scale.threads,
        prefix=prefix,
        seed=seed,
        duplicates=duplicates,
        sessions=str(target.sessions) if target.sessions else None,
    )
    if not target.server.alive():
        raise BenchBroken(f"{target.label} died during the load; see {target.server.log_path}")
    return result


def close_generator() -> None:
    if _generator is not None:
        _generator.close()


@dataclass
class Tally:
    """Everything one target did over all its rounds."""

    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    round_rates: list[float] = field(default_factory=list)
    unique_events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, result: dict[str, Any]) -> None:
        self.requests += result["requests"]
        self.seconds += result["elapsed"]
        self.latencies.extend(result["latencies"])
        for status, n in result["statuses"].items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        for error, n in result["errors"].items():
            self.errors[error] = self.errors.get(error, 0) + n
        self.round_rates.append(result["requests"] / result["elapsed"] if result["elapsed"] else 0)
        self.unique_events += result["unique_events"]

    def failures(self, *, redirects_ok: bool = False) -> int:
        """Answers that are not a success (status 0: no answer at all)."""
        limit = 400 if redirects_ok else 300
        return sum(n for status, n in self.statuses.items() if not 200 <= int(status) < limit)

    def summary(self, *, redirects_ok: bool = False) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": self.requests,
            "per_second": self.requests / self.seconds if self.seconds else 0.0,
            "p50_ms": percentile(ordered, 0.50),
            "p95_ms": percentile(ordered, 0.95),
            "p99_ms": percentile(ordered, 0.99),
            "failures": self.failures(redirects_ok=redirects_ok),
            "statuses": self.statuses,
            "errors": self.errors,
            "round_rates": [round(r, 1) for r in self.round_rates],
            "unique_events": self.unique_events,
            **self.extra,
        }
