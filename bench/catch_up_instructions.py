"""Catch-up against its floor in instructions (valgrind's callgrind), not seconds.

    .venv/bin/python bench/catch_up_instructions.py               # 1,000 events, SQLite
    .venv/bin/python bench/catch_up_instructions.py --events 2000

``bench/catch_up.py`` times the command and its floor in one process, but on a shared
2-core machine their ratio moves by a fifth from one run to the next (the machine's speed
drifts between the two timings). Callgrind counts the instructions a piece of code runs:
the same count for the same code and inputs, whatever else the machine does. So a change
that saves a twentieth shows here at once, where timed runs need a dozen.

Each part runs in its own process of the bench project under callgrind, with counting
switched on only around the part (a tiny C helper sends callgrind's client requests;
``gcc`` and valgrind's headers build it): the command's listing (``_missing_events``:
pages, the stored check, spooling), its receiving (``_receive_all``), and the floor of
``bench/catch_up.py`` (the same listing, one insert per event). The events come from the
same stub of ``GET /v1/events``, on an empty SQLite database each time.

Instructions are not seconds (a cache miss or a system call weighs more than its count),
so the timed bench stays the figure; this one says where a change moved it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PARTS = ("listing", "receive", "floor")

_HELPER_C = """
#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""


def _child(part: str, events: int, helper: str) -> None:
    """Inside callgrind: set up the bench project, count ``part`` only."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")
    import django

    django.setup()
    from io import StringIO

    import catch_up as bench_catch_up
    from django.core.management import call_command
    from django.db import connection

    from django_stripe_portal.webhooks import catch_up

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    counter = ctypes.CDLL(helper)

    def counted(function):  # type: ignore[no-untyped-def]
        def run(*args, **kwargs):  # type: ignore[no-untyped-def]
            counter.count_start()
            try:
                return function(*args, **kwargs)
            finally:
                counter.count_stop()

        return run

    if part == "floor":
        counted(bench_catch_up._floor)(events)
        return
    if part == "listing":
        catch_up._missing_events = counted(catch_up._missing_events)
    else:
        catch_up._receive_all = counted(catch_up._receive_all)
    call_command("fetch_stripe_events", "--hours", "24", stdout=StringIO(), stderr=StringIO())


def _build_helper(directory: Path) -> Path:
    source, library = directory / "count.c", directory / "libcount.so"
    source.write_text(_HELPER_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source)], check=True)
    return library


def _count(part: str, events: int, port: int, helper: Path, directory: Path) -> int:
    database = directory / f"{part}.sqlite3"
    out = directory / f"callgrind.{part}"
    env = dict(
        os.environ,
        BENCH_DB="sqlite",
        BENCH_DB_NAME=str(database),
        BENCH_STRIPE_API=f"http://127.0.0.1:{port}",
    )
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            part,
            f"--events={events}",
            f"--helper={helper}",
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    total = 0
    for dump in directory.glob(f"callgrind.{part}*"):
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--child", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.events, args.helper)
        return 0
    sys.path[:0] = [str(BENCH)]
    from catch_up import _free_port, _stub_stats

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        helper = _build_helper(directory)
        port = _free_port()
        stub = subprocess.Popen(
            [
                sys.executable,
                str(BENCH / "catch_up.py"),
                f"--serve={port}",
                f"--events={args.events}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    _stub_stats(port)
                    break
                except OSError:
                    time.sleep(0.1)
            counts = {part: _count(part, args.events, port, helper, directory) for part in PARTS}
        finally:
            stub.terminate()
            stub.wait()
    command = counts["listing"] + counts["receive"]
    per_event = {part: count / args.events / 1000 for part, count in counts.items()}
    print(f"{args.events:,} events, SQLite, thousands of instructions per event:")
    print(f"  command: listing {per_event['listing']:,.0f} + receiving {per_event['receive']:,.0f}")
    print(f"  floor: {per_event['floor']:,.0f}")
    print(f"  floor / command: {counts['floor'] / command:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
