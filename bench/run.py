"""The benchmark, in one command: ``make bench`` (full) or ``make bench-smoke`` (tiny counts).

Targets run side by side (every gunicorn server up at once, on its own port and
database) and are measured in short interleaved rounds (A B C, C B A, …) so that
each sees the same machine noise and their ratios hold on a busy machine.

Parts: webhook ingestion (app sync, app task, floor) on SQLite and PostgreSQL,
growth (0 vs 1,000,000 stored events), portal redirect (app vs floor against a
stub of Stripe), worker memory over many webhooks, and SQL statements per
request. Results: ``bench/results.json`` (raw), ``bench/results.md`` (tables),
copied into ``bench/README.md``; a smoke run writes under ``bench/out/`` only.

Exit status is non-zero only when something is broken (non-2xx answers, lost or
duplicated events, a server that died, a Stripe call count other than one per
click, a request the stub finds invalid), never because of a ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

WEBHOOK_PATHS = {"app": "/billing/webhook/", "floor": "/floor/webhook/"}
REDIRECT_PATHS = {
    "app": "/billing/portal/",
    "floor": "/floor/portal/",
    "floor_recorded": "/floor/portal-recorded/",
}


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
)


class BenchBroken(Exception):
    """Something did not work (as opposed to a slow figure)."""


# ---------------------------------------------------------------- helpers


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


def _migrations_fingerprint() -> str:
    """Changes when the schema can have changed (a cached 1M-row database is then rebuilt)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "django_stripe_portal" / "migrations").glob("*.py")):
        digest.update(path.read_bytes())
    digest.update((BENCH / "benchproject" / "models.py").read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- databases


@dataclass
class Database:
    engine: str  # "sqlite" or "postgres"
    name: str  # file path or database name

    def env(self) -> dict[str, str]:
        return {"BENCH_DB": self.engine, "BENCH_DB_NAME": self.name}

    def tool(self, *args: str) -> dict[str, Any]:
        """Run ``djtool.py`` against this database; its JSON answer."""
        env = {**os.environ, **self.env(), "DJANGO_SETTINGS_MODULE": "benchproject.settings"}
        done = subprocess.run(
            [PYTHON, str(BENCH / "djtool.py"), *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise BenchBroken(f"djtool {args[0]} on {self.name} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


#: Where each target stores events (Django's default table names of the two models).
STORED_TABLES = {"app": "django_stripe_portal_webhookevent", "floor": "benchproject_floorevent"}


def _count_stored(db: Database, table: str, prefix: str) -> tuple[int, int]:
    """(rows, distinct ids) of ``table`` whose ``stripe_id`` starts with ``prefix``."""
    query = (
        f"SELECT count(*), count(DISTINCT stripe_id) FROM {table} "  # noqa: S608 - our names
        f"WHERE substr(stripe_id, 1, {len(prefix)}) = "
    )
    if db.engine == "postgres":
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db.name}") as conn:
            row = conn.execute(query + "%s", (prefix,)).fetchone()  # type: ignore[arg-type]
    else:
        import sqlite3

        with sqlite3.connect(db.name) as conn:
            row = conn.execute(query + "?", (prefix,)).fetchone()
        conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


def _schema_fingerprint(db: Database) -> str:
    """A hash of the tables, columns and indexes of ``db``."""
    if db.engine == "postgres":
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db.name}") as conn:
            rows = conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, "
                "character_maximum_length FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall()
            rows += conn.execute(
                "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "ORDER BY 1, 2"
            ).fetchall()
    else:
        import sqlite3

        with sqlite3.connect(db.name) as conn:
            rows = conn.execute(
                "SELECT type, name, coalesce(sql, '') FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
            ).fetchall()
        conn.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def _pg_execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _pg_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


class Databases:
    """Fresh databases cloned from one migrated template per engine and run."""

    def __init__(self, engine: str, tag: str) -> None:
        self.engine = engine
        self.tag = tag
        fingerprint = _migrations_fingerprint()
        self.template = self._make(f"bench_template_{fingerprint}")
        self.sessions = OUT / f"sessions_{engine}_{fingerprint}.json"
        self._created: list[Database] = []
        if not (self._exists(self.template) and self.sessions.exists()):
            _log(f"{engine}: migrating a template database (kept while the schema holds)")
            self._drop(self.template)
            self._create_empty(self.template)
            self.template.tool("migrate")
            self.template.tool("users", "--count", "50", "--out", str(self.sessions))

    def _exists(self, db: Database) -> bool:
        return _pg_exists(db.name) if db.engine == "postgres" else Path(db.name).exists()

    def _make(self, name: str) -> Database:
        if self.engine == "postgres":
            return Database("postgres", name)
        return Database("sqlite", str(OUT / f"{name}.sqlite3"))

    def _drop(self, db: Database) -> None:
        if db.engine == "postgres":
            _pg_execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(db.name + suffix).unlink(missing_ok=True)

    def _create_empty(self, db: Database) -> None:
        if db.engine == "postgres":
            _pg_execute(f'CREATE DATABASE "{db.name}"')
        else:
            OUT.mkdir(parents=True, exist_ok=True)

    def fresh(self, role: str) -> Database:
        """A new database named after ``role``, with the schema and nothing else."""
        db = self._make(f"bench_{self.tag}_{role}")
        self._drop(db)
        if db.engine == "postgres":
            _pg_execute(f'CREATE DATABASE "{db.name}" TEMPLATE "{self.template.name}"')
        else:
            shutil.copyfile(self.template.name, db.name)
        self._created.append(db)
        return db

    def preloaded(self, rows: int) -> tuple[Database, dict[str, Any]]:
        """A database holding ``rows`` stored events; kept between runs while the schema
        (tables, columns, indexes) is the template's."""
        db = self._make(f"bench_preload_{rows}")
        stamp = OUT / f"preload_{self.engine}_{rows}.json"
        schema = _schema_fingerprint(self.template)
        if self._exists(db) and stamp.exists():
            info = json.loads(stamp.read_text())
            if info.get("schema") == schema == _schema_fingerprint(db):
                info["reused"] = True
                return db, info
        _log(f"preloading {rows:,} events into {db.name} (kept for later runs)")
        self._drop(db)
        if db.engine == "postgres":
            _pg_execute(f'CREATE DATABASE "{db.name}" TEMPLATE "{self.template.name}"')
        else:
            shutil.copyfile(self.template.name, db.name)
        info = db.tool("preload", "--rows", str(rows))
        info["schema"] = schema
        OUT.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(info))
        info["reused"] = False
        return db, info

    def drop_all(self) -> None:
        for db in self._created:
            self._drop(db)


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """One gunicorn (sync workers) serving the bench project on one database."""

    label: str
    db: Database
    processing: str = "sync"
    workers: int = 2
    count_sql: bool = False
    stripe_api: str = ""
    port: int = field(default_factory=_free_port)
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
def serving(*servers: Server) -> Any:
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


# ---------------------------------------------------------------- load


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
    kind: str,
    server: Server,
    path: str,
    count: int,
    scale: Scale,
    *,
    prefix: str = "evt_bench",
    seed: int = 1,
    sessions: Path | None = None,
    duplicates: float = 0.05,
    seconds: float | None = None,
) -> dict[str, Any]:
    """One round of the load generator against ``server``."""
    global _generator
    if _generator is None:
        _generator = LoadGenerator()
    result = _generator.round(
        kind=kind,
        port=server.port,
        path=path,
        count=count,
        seconds=seconds or scale.round_seconds,
        threads=scale.threads,
        prefix=prefix,
        seed=seed,
        duplicates=duplicates,
        sessions=str(sessions) if sessions else None,
    )
    if not server.alive():
        raise BenchBroken(f"{server.label} died during the load; see {server.log_path}")
    return result


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
            "p50_ms": _percentile(ordered, 0.50),
            "p95_ms": _percentile(ordered, 0.95),
            "p99_ms": _percentile(ordered, 0.99),
            "failures": self.failures(redirects_ok=redirects_ok),
            "statuses": self.statuses,
            "errors": self.errors,
            "round_rates": [round(r, 1) for r in self.round_rates],
            "unique_events": self.unique_events,
            **self.extra,
        }


def interleaved(rounds: int, labels: list[str]) -> list[list[str]]:
    """A B C, C B A, A B C …: every target runs first and last equally often."""
    return [labels if r % 2 == 0 else list(reversed(labels)) for r in range(rounds)]


class Run:
    """One benchmark run: its id (in every event id), scale, results and problems."""

    def __init__(self, scale: Scale, smoke: bool, profile: bool = False) -> None:
        self.scale = scale
        self.smoke = smoke
        self.profile = profile
        self.id = datetime.now(UTC).strftime("%H%M%S")
        self.results: dict[str, Any] = {}
        self.problems: list[str] = []
        self._expected: dict[tuple[str, str, str], tuple[Server, int]] = {}

    def server(self, label: str, db: Database, processing: str = "sync", **kwargs: Any) -> Server:
        """A timed server: two sync workers (one in a smoke run, which also counts SQL on it)."""
        return Server(
            label, db, processing, workers=self.scale.workers, count_sql=self.smoke, **kwargs
        )

    def counter(self, timed: Server, label: str) -> Server:
        """The server of the SQL counting pass: its own one-worker server beside ``timed``
        (the same server in a smoke run, to save start-ups)."""
        if self.smoke:
            return timed
        return Server(
            label,
            timed.db,
            timed.processing,
            workers=1,
            count_sql=True,
            stripe_api=timed.stripe_api,
        )

    def round_count(self, cap: int, warm_rates: list[float]) -> int:
        """Requests per round: what the fastest target serves in the round's time bound
        (a little more, so that the bound ends the round), at most ``cap``; every target
        gets the same deliveries."""
        planned = int(max(warm_rates) * self.scale.round_seconds * 1.2) if warm_rates else cap
        return max(1, min(cap, planned))

    def prefix(self, db: Database, target: str, round_no: int | str) -> str:
        """Event ids made only of letters and digits, e.g. ``evt_023112pAr03``."""
        return f"evt_{self.id}{db.engine[0]}{target}r{round_no}"

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)
            _log(f"PROBLEM: {problem}")

    # ------------------------------------------------------------ webhook parts

    def _expect(self, server: Server, table: str, code: str, unique: int) -> None:
        """Note that ``unique`` more events with ``code`` must be in ``server``'s database."""
        prefix = f"evt_{self.id}{server.db.engine[0]}{code}"
        key = (server.db.name, table, prefix)
        _, so_far = self._expected.get(key, (server, 0))
        self._expected[key] = (server, so_far + unique)

    def verify_stored(self) -> dict[str, Any]:
        """Every unique event sent is stored exactly once (counted straight in the database)."""
        verified: dict[str, Any] = {}
        for (_, table, prefix), (server, expected) in self._expected.items():
            stored, distinct = _count_stored(server.db, STORED_TABLES[table], prefix)
            result = {
                "stored": stored,
                "expected": expected,
                "repeated_ids": stored - distinct,
                "ok": stored == expected == distinct,
            }
            verified[server.label] = result
            self.check(
                result["ok"],
                f"{server.label}: {stored} events stored for {expected} unique sent, "
                f"{stored - distinct} ids stored more than once",
            )
        self._expected = {}
        return verified

    def count_sql_webhooks(self, targets: dict[str, tuple[Server, str]]) -> dict[str, Any]:
        """Statements per delivery (first deliveries and redeliveries together), per target."""
        counted: dict[str, Any] = {}
        for code, (server, table) in targets.items():
            result = load(
                "webhook",
                server,
                WEBHOOK_PATHS[table],
                self.scale.count_pass,
                self.scale,
                prefix=self.prefix(server.db, code, "c"),
                seed=99,
            )
            self.check(
                result["sql_responses"] == result["requests"], f"{server.label}: no SQL header"
            )
            requests = max(result["requests"], 1)
            counted[server.label] = {
                "statements_per_delivery": round(result["sql_statements"] / requests, 2),
                "by_verb": {
                    v: round(n / requests, 2) for v, n in sorted(result["sql_verbs"].items())
                },
                **_brief(result),
            }
            self.check(_ok(result), f"{server.label} (counting pass): {result['statuses']}")
            self._expect(server, table, code, result["unique_events"])
        return counted

    def webhook_rounds(
        self, targets: dict[str, tuple[Server, str]], tag: str, seed_base: int
    ) -> dict[str, Tally]:
        """Warm-up, then interleaved rounds; every target's events verified afterwards."""
        tallies = {code: Tally() for code in targets}
        rates = []
        for code, (server, table) in targets.items():
            warm = load(
                "webhook",
                server,
                WEBHOOK_PATHS[table],
                self.scale.warmup,
                self.scale,
                prefix=self.prefix(server.db, code, "w"),
                seed=seed_base,
            )
            self.check(_ok(warm), f"{server.label} warm-up: {warm['statuses']}")
            self._expect(server, table, code, warm["unique_events"])
            rates.append(warm["requests"] / warm["elapsed"])
        count = self.round_count(self.scale.webhook_count, rates)
        for tally in tallies.values():
            tally.extra["per_round"] = count
        profilers = _start_profilers([s for s, _ in targets.values()]) if self.profile else []
        for round_no, order in enumerate(interleaved(self.scale.rounds, list(targets))):
            for code in order:
                server, table = targets[code]
                result = load(
                    "webhook",
                    server,
                    WEBHOOK_PATHS[table],
                    count,
                    self.scale,
                    prefix=self.prefix(server.db, code, f"{round_no:02d}"),
                    seed=seed_base + round_no,  # the same events for every target
                )
                tallies[code].add(result)
            _log(
                f"{tag} round {round_no + 1}/{self.scale.rounds}: "
                + ", ".join(
                    f"{targets[c][0].label} {tallies[c].round_rates[-1]:.0f}/s" for c in targets
                )
            )
        _stop_profilers(profilers)
        for code, (server, table) in targets.items():
            tally = tallies[code]
            self.check(
                tally.failures() == 0,
                f"{server.label}: {tally.failures()} non-2xx answers {tally.statuses}",
            )
            self._expect(server, table, code, tally.unique_events)
        return tallies

    def webhooks(self, dbs: Databases) -> None:
        """Part 1: app (sync), app (task) and the floor, interleaved, on one engine."""
        engine = dbs.engine
        _log(f"webhooks on {engine}")
        app_db, task_db, floor_db = dbs.fresh("app"), dbs.fresh("task"), dbs.fresh("floor")
        timed = {
            "AS": (self.server(f"{engine}-app-sync", app_db, "sync"), "app"),
            "AT": (self.server(f"{engine}-app-task", task_db, "task"), "app"),
            "FL": (self.server(f"{engine}-floor", floor_db), "floor"),
        }
        counting = {
            "CA": (self.counter(timed["AS"][0], f"{engine}-app-sync-count"), "app"),
            "CT": (self.counter(timed["AT"][0], f"{engine}-app-task-count"), "app"),
            "CF": (self.counter(timed["FL"][0], f"{engine}-floor-count"), "floor"),
        }
        with serving(*_distinct(counting, timed)):
            sql = self.count_sql_webhooks(counting)
            _stop_counters(counting, timed)
            tallies = self.webhook_rounds(timed, f"webhooks/{engine}", seed_base=1000)
        verified = self.verify_stored()
        summary = {timed[c][0].label: t.summary() for c, t in tallies.items()}
        for label, target in summary.items():
            target["verified"] = verified[label]
        app, task, floor = (summary[timed[c][0].label] for c in ("AS", "AT", "FL"))
        self.results[f"webhooks_{engine}"] = {
            "targets": summary,
            "sql": sql,
            "ratios": {
                "sync_throughput": app["per_second"] / floor["per_second"],
                "sync_p99": app["p99_ms"] / floor["p99_ms"],
                "task_throughput": task["per_second"] / floor["per_second"],
                "task_p99": task["p99_ms"] / floor["p99_ms"],
            },
            "round_ratios": {
                "sync": _round_ratios(tallies["AS"], tallies["FL"]),
                "task": _round_ratios(tallies["AT"], tallies["FL"]),
            },
        }

    def growth(self, dbs: Databases) -> None:
        """Part 2: the app (sync) with an empty table and with ``preload_rows`` events."""
        engine = dbs.engine
        _log(f"growth on {engine}")
        empty = dbs.fresh("empty")
        big, preload_info = dbs.preloaded(self.scale.preload_rows)
        size = _short(self.scale.preload_rows)
        timed = {
            "EM": (self.server(f"{engine}-app-0", empty), "app"),
            "GR": (self.server(f"{engine}-app-{size}", big), "app"),
        }
        counting = {"CG": (self.counter(timed["GR"][0], f"{engine}-app-{size}-count"), "app")}
        with serving(*_distinct(counting, timed)):
            sql = self.count_sql_webhooks(counting)
            _stop_counters(counting, timed)
            tallies = self.webhook_rounds(timed, f"growth/{engine}", seed_base=2000)
        verified = self.verify_stored()
        summary = {timed[c][0].label: t.summary() for c, t in tallies.items()}
        for label, target in summary.items():
            target["verified"] = verified[label]
        small, large = (summary[timed[c][0].label] for c in ("EM", "GR"))
        self.results[f"growth_{engine}"] = {
            "targets": summary,
            "sql_at_size": sql,
            "stored_before": preload_info["rows"],
            "preload": preload_info,
            "ratios": {
                "throughput": large["per_second"] / small["per_second"],
                "p99": large["p99_ms"] / small["p99_ms"],
            },
            "round_ratios": _round_ratios(tallies["GR"], tallies["EM"]),
        }

    def memory(self, dbs: Databases) -> None:
        """Part 4: one worker's resident memory over ``memory_requests`` webhooks."""
        engine = dbs.engine
        _log(f"memory on {engine}: {self.scale.memory_requests:,} webhooks to one worker")
        server = Server(f"{engine}-app-memory", dbs.fresh("memory"), "sync", workers=1)
        checkpoints: list[dict[str, Any]] = []
        tally = Tally()
        with serving(server):
            (pid,) = server.worker_pids()
            warm = load(
                "webhook",
                server,
                WEBHOOK_PATHS["app"],
                max(self.scale.warmup, 100),
                self.scale,
                prefix=self.prefix(server.db, "ME", "w"),
                seed=3000,
            )
            self.check(_ok(warm), f"memory warm-up: {warm['statuses']}")
            self._expect(server, "app", "ME", warm["unique_events"])
            served = warm["requests"]
            checkpoints.append({"requests": served, "rss_kib": rss_kib(pid)})
            chunk = self.scale.memory_requests // self.scale.memory_checkpoints
            deadline = time.monotonic() + self.scale.memory_seconds
            for n in range(self.scale.memory_checkpoints):
                left = deadline - time.monotonic()
                if left <= 0:
                    _log(f"memory: time bound of {self.scale.memory_seconds} s reached")
                    break
                result = load(
                    "webhook",
                    server,
                    WEBHOOK_PATHS["app"],
                    chunk,
                    self.scale,
                    prefix=self.prefix(server.db, "ME", f"{n:02d}"),
                    seed=3001 + n,
                    seconds=left,
                )
                tally.add(result)
                self._expect(server, "app", "ME", result["unique_events"])
                served += result["requests"]
                checkpoints.append({"requests": served, "rss_kib": rss_kib(pid)})
                _log(f"memory: {served:,} served, RSS {checkpoints[-1]['rss_kib'] / 1024:.1f} MiB")
            self.check(server.worker_pids() == [pid], "memory: the worker was replaced")
        self.check(tally.failures() == 0, f"memory: non-2xx answers {tally.statuses}")
        verified = self.verify_stored()[server.label]
        start, end = checkpoints[0]["rss_kib"], checkpoints[-1]["rss_kib"]
        self.results[f"memory_{engine}"] = {
            "checkpoints": checkpoints,
            "start_mib": start / 1024,
            "end_mib": end / 1024,
            "growth_mib": (end - start) / 1024,
            "per_second": tally.summary()["per_second"],
            "failures": tally.failures(),
            "verified": verified,
            "planned_requests": self.scale.memory_requests,
            "time_bound_s": self.scale.memory_seconds,
        }

    # ------------------------------------------------------------ redirect

    def redirect(self, dbs: Databases, stub_port: int) -> None:
        """Part 3: the portal button (app) vs the bare SDK call (floor), against the stub."""
        engine = dbs.engine
        _log(f"portal redirect on {engine}")
        stub = f"http://127.0.0.1:{stub_port}"
        app_db, floor_db = dbs.fresh("redirect_app"), dbs.fresh("redirect_floor")
        recorded_db = dbs.fresh("redirect_floor_recorded")
        # The databases are clones of the template, which holds the signed-in users.
        sessions = dict.fromkeys(("A", "F", "R"), dbs.sessions)
        label = f"{engine}-redirect"
        targets = {
            "A": (self.server(f"{label}-app", app_db, stripe_api=stub), "app"),
            "F": (self.server(f"{label}-floor", floor_db, stripe_api=stub), "floor"),
            "R": (
                self.server(f"{label}-floor-recorded", recorded_db, stripe_api=stub),
                "floor_recorded",
            ),
        }
        counting = {
            code: (self.counter(server, f"{server.label}-count"), table)
            for code, (server, table) in targets.items()
        }
        per_click: dict[str, Any] = {}
        tallies = {code: Tally() for code in targets}
        calls = dict.fromkeys(targets, 0)
        with serving(*_distinct(counting, targets)):
            for code, (server, _) in counting.items():
                before = _stub_stats(stub)
                result = load(
                    "redirect",
                    server,
                    REDIRECT_PATHS[targets[code][1]],
                    self.scale.count_pass,
                    self.scale,
                    sessions=sessions[code],
                )
                made = _stub_stats(stub)["sessions"] - before["sessions"]
                self.check(_ok(result, redirects_ok=True), f"{server.label}: {result['statuses']}")
                clicks = max(result["requests"], 1)
                per_click[targets[code][0].label] = {
                    "statements_per_click": round(result["sql_statements"] / clicks, 2),
                    "by_verb": {
                        v: round(n / clicks, 2) for v, n in sorted(result["sql_verbs"].items())
                    },
                    "stripe_calls_per_click": made / clicks,
                    **_brief(result),
                }
                if server is not targets[code][0]:
                    server.stop()
            rates = []
            for code, (server, table) in targets.items():
                warm = load(
                    "redirect",
                    server,
                    REDIRECT_PATHS[table],
                    self.scale.warmup,
                    self.scale,
                    sessions=sessions[code],
                )
                rates.append(warm["requests"] / warm["elapsed"])
            count = self.round_count(self.scale.redirect_count, rates)
            for tally in tallies.values():
                tally.extra["per_round"] = count
            profiled = [s for s, _ in targets.values()]
            profilers = _start_profilers(profiled) if self.profile else []
            for round_no, order in enumerate(interleaved(self.scale.rounds, list(targets))):
                for code in order:
                    server, table = targets[code]
                    before = _stub_stats(stub)["sessions"]
                    result = load(
                        "redirect",
                        server,
                        REDIRECT_PATHS[table],
                        count,
                        self.scale,
                        sessions=sessions[code],
                    )
                    calls[code] += _stub_stats(stub)["sessions"] - before
                    tallies[code].add(result)
                _log(
                    f"redirect/{engine} round {round_no + 1}/{self.scale.rounds}: "
                    + ", ".join(
                        f"{targets[c][0].label} {tallies[c].round_rates[-1]:.0f}/s" for c in targets
                    )
                )
            _stop_profilers(profilers)
        summary = {}
        for code, (server, _) in targets.items():
            tally = tallies[code]
            tally.extra["stripe_calls_per_click"] = calls[code] / max(tally.requests, 1)
            summary[server.label] = tally.summary(redirects_ok=True)
            self.check(tally.failures(redirects_ok=True) == 0, f"{server.label}: {tally.statuses}")
            self.check(
                calls[code] == tally.requests,
                f"{server.label}: {calls[code]} Stripe calls for {tally.requests} clicks",
            )
        invalid = _stub_stats(stub)["invalid"]
        self.check(invalid == 0, f"the stub found {invalid} session requests invalid")
        app, floor, recorded = (summary[targets[c][0].label] for c in "AFR")
        self.results[f"redirect_{engine}"] = {
            "targets": summary,
            "per_click": per_click,
            "ratios": {
                "throughput": app["per_second"] / floor["per_second"],
                "p99": app["p99_ms"] / floor["p99_ms"],
                "throughput_vs_recorded": app["per_second"] / recorded["per_second"],
                "p99_vs_recorded": app["p99_ms"] / recorded["p99_ms"],
            },
            "round_ratios": _round_ratios(tallies["A"], tallies["F"]),
        }


def _start_profilers(servers: list[Server]) -> list[subprocess.Popen[bytes]]:
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


def _stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(timeout=60)


def _distinct(*groups: dict[str, tuple[Server, str]]) -> list[Server]:
    """Every server of the groups once (a smoke run counts on its timed servers)."""
    servers: list[Server] = []
    for group in groups:
        servers += [s for s, _ in group.values() if all(s is not t for t in servers)]
    return servers


def _stop_counters(
    counting: dict[str, tuple[Server, str]], timed: dict[str, tuple[Server, str]]
) -> None:
    """Stop the counting servers (not the timed ones) before the timed rounds."""
    timed_servers = [s for s, _ in timed.values()]
    for server, _ in counting.values():
        if all(server is not t for t in timed_servers):
            server.stop()


def _short(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def _ok(result: dict[str, Any], *, redirects_ok: bool = False) -> bool:
    limit = 400 if redirects_ok else 300
    return all(200 <= int(status) < limit for status in result["statuses"])


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {"requests": result["requests"], "statuses": result["statuses"]}


def _round_ratios(a: Tally, b: Tally) -> list[float]:
    return [
        round(x / y, 3) if y else 0.0 for x, y in zip(a.round_rates, b.round_rates, strict=True)
    ]


def _stub_stats(stub: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{stub}/__stats", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


# ---------------------------------------------------------------- machine and report


def machine() -> dict[str, Any]:
    def _run(*command: str) -> str:
        try:
            return subprocess.run(
                command, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import django
    import stripe

    versions = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "stripe": stripe.VERSION,
        "gunicorn": _run(GUNICORN, "--version"),
        "sqlite": __import__("sqlite3").sqlite_version,
    }
    try:
        import psycopg

        versions["psycopg"] = psycopg.__version__
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            versions["postgresql"] = row[0] if row else "?"
    except Exception:
        versions["postgresql"] = "unavailable"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": _run("nproc"),
        "cpu": cpu,
        "free_h": _run("free", "-h"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().strip(),
        "kernel": platform.release(),
        "versions": versions,
        "commit": _run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
    }


def _goal_rows(results: dict[str, Any]) -> list[str]:
    """One line per goal of the issue: the ratio measured, the goal, whether it is met."""
    rows: list[str] = []

    def row(name: str, value: float, goal: str, met: bool | None) -> None:
        verdict = "—" if met is None else ("yes" if met else "**no**")
        rows.append(f"| {name} | {value:.2f} | {goal} | {verdict} |")

    for engine in ("sqlite", "postgres"):
        if w := results.get(f"webhooks_{engine}"):
            r = w["ratios"]
            row(
                f"webhooks, {engine}: sync throughput / floor",
                r["sync_throughput"],
                "≥ 0.90",
                r["sync_throughput"] >= 0.9,
            )
            row(
                f"webhooks, {engine}: sync p99 / floor",
                r["sync_p99"],
                "≤ 1.20",
                r["sync_p99"] <= 1.2,
            )
            row(
                f"webhooks, {engine}: task throughput / floor",
                r["task_throughput"],
                "≥ 0.95",
                r["task_throughput"] >= 0.95,
            )
            row(
                f"webhooks, {engine}: task p99 / floor",
                r["task_p99"],
                "≤ 1.20",
                r["task_p99"] <= 1.2,
            )
        if g := results.get(f"growth_{engine}"):
            size = _short(g["stored_before"])
            r = g["ratios"]
            row(
                f"growth, {engine}: throughput at {size} / at 0",
                r["throughput"],
                "≥ 0.90",
                r["throughput"] >= 0.9,
            )
            row(f"growth, {engine}: p99 at {size} / at 0", r["p99"], "", None)
        if rd := results.get(f"redirect_{engine}"):
            r = rd["ratios"]
            row(
                f"redirect, {engine}: throughput / floor",
                r["throughput"],
                "≥ 0.90",
                r["throughput"] >= 0.9,
            )
            row(f"redirect, {engine}: p99 / floor", r["p99"], "", None)
            if "throughput_vs_recorded" in r:
                row(
                    f"redirect, {engine}: throughput / (floor + visit insert)",
                    r["throughput_vs_recorded"],
                    "",
                    None,
                )
                row(
                    f"redirect, {engine}: p99 / (floor + visit insert)",
                    r["p99_vs_recorded"],
                    "",
                    None,
                )
    return rows


def _target_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for key, part in results.items():
        if not key.startswith(("webhooks_", "growth_", "redirect_")):
            continue
        for label, t in part["targets"].items():
            verified = t.get("verified")
            if verified is None:
                stored = "—"
            else:
                stored = "yes" if verified["ok"] else f"**no** {verified}"
            rows.append(
                f"| {label} | {t['requests']} | {t['per_second']:.1f} | {t['p50_ms']:.1f} | "
                f"{t['p95_ms']:.1f} | {t['p99_ms']:.1f} | {t['failures']} | {stored} |"
            )
    return rows


def _sql_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for part in results.values():
        if not isinstance(part, dict):
            continue
        for counts in (part.get("sql", {}), part.get("sql_at_size", {})):
            for label, c in counts.items():
                verbs = ", ".join(f"{v} {n}" for v, n in c["by_verb"].items())
                rows.append(f"| {label}: per delivery | {c['statements_per_delivery']} | {verbs} |")
        for label, c in part.get("per_click", {}).items():
            verbs = ", ".join(f"{v} {n}" for v, n in c["by_verb"].items())
            rows.append(
                f"| {label}: per click (Stripe calls: {c['stripe_calls_per_click']:.2f}) | "
                f"{c['statements_per_click']} | {verbs} |"
            )
    return rows


def _memory_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for key, part in results.items():
        if not key.startswith("memory_"):
            continue
        points = ", ".join(
            f"{c['requests']:,}: {c['rss_kib'] / 1024:.1f}" for c in part["checkpoints"]
        )
        lines += [
            "",
            f"Memory ({key.split('_', 1)[1]}, one worker): RSS {part['start_mib']:.1f} MiB "
            f"after the warm-up, {part['end_mib']:.1f} MiB after "
            f"{part['checkpoints'][-1]['requests']:,} webhooks "
            f"(growth {part['growth_mib']:+.1f} MiB, {part['per_second']:.0f} deliveries/s, "
            f"{part['failures']} non-2xx). RSS in MiB after n requests: {points}.",
        ]
    return lines


def report_markdown(results: dict[str, Any], scale: Scale, smoke: bool) -> str:
    """The table of ratios, then the absolute figures behind them."""
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        f"Run of {m['date']} (commit {m['commit']}), {m['nproc']} CPUs ({m['cpu']}), "
        f"load average at start {m['loadavg_at_start'].split()[0]}"
        + (". **SMOKE RUN: tiny counts, the figures mean nothing.**" if smoke else "."),
        "",
        f"Scale: {scale.rounds} interleaved rounds per target, each bounded by "
        f"{scale.round_seconds:g} s (requests per round: what the fastest target served in "
        f"that time during its warm-up, plus 20%, the same for every target), "
        f"{scale.threads} client threads, {scale.workers} sync workers per server, 5% "
        f"redeliveries; growth preload {scale.preload_rows:,} events; memory: up to "
        f"{scale.memory_requests:,} webhooks within {scale.memory_seconds:g} s.",
        "",
        "Parts and when they ran: "
        + ", ".join(
            f"{key} {part.get('run_date', '?')}"
            for key, part in results.items()
            if key.startswith(("webhooks_", "growth_", "redirect_", "memory_"))
        )
        + ".",
        "",
        "| measure | ratio | goal | met |",
        "| --- | --- | --- | --- |",
        *_goal_rows(results),
        "",
        "| target | requests | per second | p50 ms | p95 ms | p99 ms | non-2xx | stored once |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *_target_rows(results),
        "",
        "Per-round ratios (their spread is the noise):",
        "",
    ]
    for key, part in results.items():
        if isinstance(part, dict) and "round_ratios" in part:
            lines.append(f"- {key}: {json.dumps(part['round_ratios'])}")
    lines += [
        "",
        "| SQL statements | per request | by first keyword |",
        "| --- | --- | --- |",
        *_sql_rows(results),
        *_memory_lines(results),
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, kernel {m['kernel']}; {versions}.",
        "",
        "```",
        m["free_h"],
        "```",
    ]
    if results.get("problems"):
        lines += ["", "Problems:", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join(lines) + "\n"


def _write_readme_results(markdown: str) -> None:
    readme = BENCH / "README.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{markdown}{end}{tail}")


# ---------------------------------------------------------------- main


PARTS = ("webhooks", "growth", "redirect", "memory", "catchup")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny counts; checks that everything works"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}"
    )
    parser.add_argument("--engines", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--memory-engine", default="postgres")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--webhook-count", type=int)
    parser.add_argument("--preload-rows", type=int)
    parser.add_argument("--memory-requests", type=int)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the webhook workers during the rounds"
    )
    args = parser.parse_args()

    base = SMOKE if args.smoke else FULL
    overrides = {
        "rounds": args.rounds,
        "webhook_count": args.webhook_count,
        "preload_rows": args.preload_rows,
        "memory_requests": args.memory_requests,
    }
    scale = Scale(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})
    parts = [p for p in args.parts.split(",") if p]
    engines = [e for e in args.engines.split(",") if e]
    if "postgres" in engines and not postgres_available():
        _log("PostgreSQL is not reachable on 127.0.0.1:5432: SQLite only")
        engines.remove("postgres")
    memory_engine = args.memory_engine if args.memory_engine in engines else engines[0]

    run = Run(scale, args.smoke, args.profile)
    run.results["machine"] = machine()
    run.results["scale"] = asdict(scale)
    started = time.monotonic()
    stub_port = _free_port()
    stub = subprocess.Popen(
        [
            PYTHON,
            str(BENCH / "stripe_stub.py"),
            f"--port={stub_port}",
            *(["--validate"] if args.smoke else []),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_stub(stub_port)
        with ExitStack() as cleanup:
            for engine in engines:
                dbs = Databases(engine, "smoke" if args.smoke else "full")
                if not args.keep:
                    cleanup.callback(dbs.drop_all)
                for part in parts:
                    try:
                        if part == "webhooks":
                            run.webhooks(dbs)
                        elif part == "growth":
                            run.growth(dbs)
                        elif part == "redirect":
                            run.redirect(dbs, stub_port)
                        elif part == "memory" and engine == memory_engine:
                            run.memory(dbs)
                        elif part == "catchup":  # its own module, stub and database
                            import catch_up

                            run.check(catch_up.run_part(engine, smoke=args.smoke), "catchup")
                    except BenchBroken as exc:
                        run.check(False, f"{part}/{engine}: {exc}")
    finally:
        stub.terminate()
        stub.wait()
        if _generator is not None:
            _generator.close()
    if args.smoke and ACTIVITY_BENCH.exists():
        run.check(_activity_smoke("postgres" in engines), "bench/activity.py --smoke failed")
    run.results["problems"] = run.problems
    run.results["seconds"] = round(time.monotonic() - started, 1)

    for key, part in run.results.items():
        if key.startswith(("webhooks_", "growth_", "redirect_", "memory_")):
            part["run_date"] = run.results["machine"]["date"]
    destination = OUT if args.smoke else BENCH
    destination.mkdir(parents=True, exist_ok=True)
    if not args.smoke:
        run.results = _merged_with_earlier(destination / "results.json", run.results)
    (destination / "results.json").write_text(json.dumps(run.results, indent=1, default=str) + "\n")
    markdown = report_markdown(run.results, scale, args.smoke)
    (destination / "results.md").write_text(markdown)
    if not args.smoke:
        _write_readme_results(markdown)
    print(markdown)
    _log(f"done in {run.results['seconds']} s; {len(run.problems)} problem(s)")
    for problem in run.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if run.problems else 0


ACTIVITY_BENCH = BENCH / "activity.py"


def _merged_with_earlier(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Parts of an earlier full run that this run did not repeat are kept (each part
    carries its ``run_date``), so that one part can be run again on its own."""
    if not path.exists():
        return results
    earlier = json.loads(path.read_text())
    merged = {k: v for k, v in earlier.items() if k not in results and "run_date" in v}
    return {**results, **merged}


def _activity_smoke(postgres: bool) -> bool:
    """The activity figures' own benchmark (another part of the project), tiny counts."""
    _log("bench/activity.py --smoke")
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if postgres:
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    log = OUT / "activity_smoke.log"
    with log.open("w") as out:
        done = subprocess.run(
            [PYTHON, str(ACTIVITY_BENCH), "--smoke"], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    if done.returncode != 0:
        _log(f"bench/activity.py --smoke exited {done.returncode}; see {log}")
    return done.returncode == 0


def _wait_for_stub(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _stub_stats(f"http://127.0.0.1:{port}")
            return
        except OSError:
            time.sleep(0.1)
    raise BenchBroken("the Stripe stub did not start")


if __name__ == "__main__":
    sys.exit(main())
