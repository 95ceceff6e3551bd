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
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict

from databases import Databases, postgres_available
from load import close_generator
from part_engines import engines_part
from part_redirect import redirect, stub_stats
from part_webhooks import growth, memory, webhooks
from report import machine, merged_with_earlier, report_markdown, write_readme_results
from rounds import Run
from scale import BENCH, FULL, OUT, PYTHON, ROOT, SMOKE, BenchBroken, Scale, log
from servers import free_port

PARTS = ("webhooks", "growth", "redirect", "memory", "catchup", "engines")
#: ``make bench-smoke`` (CI): every part but the real engines' (Redis, worker processes,
#: a few minutes even at tiny counts); ``--smoke --parts engines`` runs it tiny.
SMOKE_PARTS = tuple(p for p in PARTS if p != "engines")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny counts; checks that everything works"
    )
    parser.add_argument(
        "--parts",
        help=f"comma-separated subset of {PARTS} (default: all; --smoke: {SMOKE_PARTS})",
    )
    parser.add_argument("--engines", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--memory-engine", default="postgres")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--webhook-count", type=int)
    parser.add_argument("--preload-rows", type=int)
    parser.add_argument("--memory-requests", type=int)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--tag",
        help="this run's databases are bench_<tag>_… (default: smoke or full); "
        "two runs on one PostgreSQL server need different tags",
    )
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
    parts = [
        p for p in (args.parts or ",".join(SMOKE_PARTS if args.smoke else PARTS)).split(",") if p
    ]
    engines = [e for e in args.engines.split(",") if e]
    if "postgres" in engines and not postgres_available():
        log("PostgreSQL is not reachable on 127.0.0.1:5432: SQLite only")
        engines.remove("postgres")
    memory_engine = args.memory_engine if args.memory_engine in engines else engines[0]

    run = Run(scale, args.smoke, args.profile)
    run.results["machine"] = machine()
    run.results["scale"] = asdict(scale)
    started = time.monotonic()
    stub_port = free_port()
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
                dbs = Databases(engine, args.tag or ("smoke" if args.smoke else "full"))
                if not args.keep:
                    cleanup.callback(dbs.drop_all)
                for part in parts:
                    try:
                        if part == "webhooks":
                            webhooks(run, dbs)
                        elif part == "growth":
                            growth(run, dbs)
                        elif part == "redirect":
                            redirect(run, dbs, stub_port)
                        elif part == "memory" and engine == memory_engine:
                            memory(run, dbs)
                        elif part == "engines":
                            engines_part(run, dbs)
                        elif part == "catchup":  # its own module, stub and database
                            import catch_up

                            run.check(catch_up.run_part(engine, smoke=args.smoke), "catchup")
                    except BenchBroken as exc:
                        run.check(False, f"{part}/{engine}: {exc}")
    finally:
        stub.terminate()
        stub.wait()
        close_generator()
    if args.smoke and ACTIVITY_BENCH.exists():
        run.check(_activity_smoke("postgres" in engines), "bench/activity.py --smoke failed")
    run.results["problems"] = run.problems
    run.results["seconds"] = round(time.monotonic() - started, 1)

    for key, part in run.results.items():
        if key.startswith(("webhooks_", "growth_", "redirect_", "memory_", "engines_")):
            part["run_date"] = run.results["machine"]["date"]
    destination = OUT if args.smoke else BENCH
    destination.mkdir(parents=True, exist_ok=True)
    if not args.smoke:
        run.results = merged_with_earlier(destination / "results.json", run.results)
    (destination / "results.json").write_text(json.dumps(run.results, indent=1, default=str) + "\n")
    markdown = report_markdown(run.results, scale, args.smoke)
    (destination / "results.md").write_text(markdown)
    if not args.smoke:
        write_readme_results(markdown)
    print(markdown)
    log(f"done in {run.results['seconds']} s; {len(run.problems)} problem(s)")
    for problem in run.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if run.problems else 0


ACTIVITY_BENCH = BENCH / "activity.py"


def _activity_smoke(postgres: bool) -> bool:
    """The activity figures' own benchmark (another part of the project), tiny counts."""
    log("bench/activity.py --smoke")
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if postgres:
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    log_path = OUT / "activity_smoke.log"
    with log_path.open("w") as out:
        done = subprocess.run(
            [PYTHON, str(ACTIVITY_BENCH), "--smoke"], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    if done.returncode != 0:
        log(f"bench/activity.py --smoke exited {done.returncode}; see {log_path}")
    return done.returncode == 0


def _wait_for_stub(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            stub_stats(f"http://127.0.0.1:{port}")
            return
        except OSError:
            time.sleep(0.1)
    raise BenchBroken("the Stripe stub did not start")


if __name__ == "__main__":
    sys.exit(main())
