"""Two hosts, one database, at small scale (the bench's part ``two_hosts`` at full scale).

Each "host" is a gunicorn (2 workers) and a group of 2 django-tasks-db workers, its own
processes on its own port, both on one PostgreSQL database; a recovery sweep runs from
each host (``recover_stripe_events``, as cron would, back to back). Deliveries go to
either host, and 5% are redeliveries sent to the other host. One host's worker group is
SIGKILLed while one of its workers is mid-receiver, then restarted. Every event must be
processed, each receiver's dispatch committed exactly once, none with a second attempt.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import WebhookEvent
from tests import stripe_objects as so
from tests.engine_support import worker_args
from tests.process_support import ROOT, child_env, gunicorn, lines, post_body, running, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

Status = WebhookEvent.Status
EVENTS = 60
WORKERS_PER_HOST = 2


class Sweeper:
    """``recover_stripe_events`` from one host, run again as soon as it exits."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            with self.log.open("ab") as output:
                try:
                    subprocess.run(
                        [sys.executable, "-m", "django", "recover_stripe_events"],
                        env=self.env,
                        cwd=ROOT,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        timeout=120,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    output.write(b"timed out\n")


@contextmanager
def _workers(env: dict[str, str], log_dir: Path, host: str) -> Iterator[list[Any]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running(worker_args("db"), env, log_dir / f"{host}-worker{number}.log")
            )
            for number in range(WORKERS_PER_HOST)
        ]


#: Where each dispatch's receiver records itself, in the dispatch's own transaction
#: (``tests/engines/apps.py``): a row is there exactly when that dispatch committed, even
#: in a worker killed the moment after.
COMMITTED = "engines_committed"


@contextmanager
def _committed_table() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {COMMITTED} (stripe_id text NOT NULL, pid integer)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {COMMITTED}")


def _committed() -> Counter[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT stripe_id FROM {COMMITTED}")  # noqa: S608
        return Counter(stripe_id for (stripe_id,) in cursor.fetchall())


def test_two_hosts_lose_nothing_and_dispatch_nothing_twice_when_one_is_killed(
    tmp_path: Path,
) -> None:
    events = [so.event("customer.subscription.created", so.subscription()) for _ in range(EVENTS)]
    [blocked, *_] = events
    (tmp_path / "block").write_text(f"{blocked['id']}\n")
    env = child_env(
        "tests.engines.settings",
        TASK_ENGINE="db",
        ENGINES_DIR=str(tmp_path),
        STUCK_AFTER="2",
        ENGINES_COMMITTED_TABLE=COMMITTED,
    )
    rng = random.Random(23)
    first_host = {event["id"]: rng.choice("ab") for event in events}
    again = rng.sample(events[1:], len(events) // 20)  # 5%: redelivered to the other host
    with ExitStack() as stack:
        stack.enter_context(_committed_table())
        ports = {
            host: stack.enter_context(
                gunicorn("tests.engines.wsgi:application", env, tmp_path / f"{host}-web.log")
            )
            for host in "ab"
        }
        groups = {host: stack.enter_context(_workers(env, tmp_path, host)) for host in "ab"}

        def deliver(batch: list[dict[str, Any]], other: bool = False) -> list[int]:
            hosts = [first_host[e["id"]] for e in batch]
            if other:
                hosts = ["b" if host == "a" else "a" for host in hosts]
            return [post_body(ports[h], json.dumps(e)) for h, e in zip(hosts, batch, strict=True)]

        half = len(events) // 2
        assert deliver(events[:half]) == [200] * half

        # The group whose worker holds the blocked event, mid-receiver, is killed whole.
        holder = wait_until(
            lambda: [
                int(pid)
                for evt, pid in map(str.split, lines(tmp_path / "started"))
                if evt == blocked["id"]
            ],
            "the blocked receiver to start",
        )[0]
        killed = next(h for h, group in groups.items() if holder in {p.pid for p in group})
        for process in groups[killed]:
            os.kill(process.pid, signal.SIGKILL)
        for process in groups[killed]:
            process.wait(timeout=30)
        # From now on the sweep runs from both hosts (before, it could take the blocked
        # event itself, and wait in its receiver).
        sweepers = [Sweeper(env, tmp_path / f"{host}-sweep.log") for host in "ab"]
        for sweeper in sweepers:
            sweeper.thread.start()
        stack.callback(lambda: [s.stopped.set() for s in sweepers])
        (tmp_path / "block").unlink()
        stack.enter_context(_workers(env, tmp_path, f"{killed}-again"))  # it comes back

        rest = events[half:]
        assert deliver(rest) == [200] * len(rest)
        assert deliver(again, other=True) == [200] * len(again)

        ids = [event["id"] for event in events]
        wait_until(
            lambda: (
                WebhookEvent.objects.filter(stripe_id__in=ids, status=Status.PROCESSED).count()
                == len(ids)
            ),
            "every event to be processed",
            timeout=120,
        )
        for sweeper in sweepers:
            sweeper.stopped.set()
        for sweeper in sweepers:
            sweeper.thread.join(timeout=120)
        committed = _committed()  # each row committed with its event's processing

    rows = WebhookEvent.objects.filter(stripe_id__in=ids)
    assert rows.count() == len(ids), "each event stored once"
    assert set(rows.values_list("attempts", flat=True)) == {1}, "no second attempt"
    assert committed == Counter(ids), "each dispatch committed exactly once"
    started = Counter(line.split()[0] for line in lines(tmp_path / "started"))
    assert started[blocked["id"]] == 2, "the killed attempt, then one that committed"
    sweeps = "".join((tmp_path / f"{host}-sweep.log").read_text() for host in "ab")
    assert "Took up" in sweeps and "timed out" not in sweeps, "the sweeps ran"
