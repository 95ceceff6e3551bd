"""The webhook parts: ingestion (app sync, app task, floor), growth (an empty table
against one holding ``preload_rows`` events) and one worker's memory over many webhooks."""

from __future__ import annotations

import time
from typing import Any

from databases import Databases
from load import Tally, Target, load
from rounds import Run, ok, ratios, round_ratios
from scale import log, short_count
from servers import Server, rss_kib, serving

WEBHOOK_PATHS = {"app": "/billing/webhook/", "floor": "/floor/webhook/"}


def _target(server: Server, table: str) -> Target:
    return Target(server, "webhook", WEBHOOK_PATHS[table], table)


def _measure(
    run: Run, timed: dict[str, Target], counting: dict[str, Target], tag: str, seed_base: int
) -> tuple[dict[str, Any], dict[str, Tally], dict[str, Any]]:
    """The counting pass, then the timed rounds; every event checked as stored once.

    Returns the SQL counts by counting server, the tallies by code, and the summaries
    by timed server (each with what was verified).
    """
    counted, tallies = run.measure(
        timed, counting, tag=tag, cap=run.scale.webhook_count, seed_base=seed_base
    )
    sql = {counting[code].label: counts for code, counts in counted.items()}
    verified = run.verify_stored()
    summary = {timed[c].label: t.summary() for c, t in tallies.items()}
    for label, target in summary.items():
        target["verified"] = verified[label]
    return sql, tallies, summary


def webhooks(run: Run, dbs: Databases) -> None:
    """Part 1: app (sync), app (task) and the floor, interleaved, on one engine."""
    engine = dbs.engine
    log(f"webhooks on {engine}")
    app_db, task_db, floor_db = dbs.fresh("app"), dbs.fresh("task"), dbs.fresh("floor")
    timed = {
        "AS": _target(run.server(f"{engine}-app-sync", app_db, "sync"), "app"),
        "AT": _target(run.server(f"{engine}-app-task", task_db, "task"), "app"),
        "FL": _target(run.server(f"{engine}-floor", floor_db), "floor"),
    }
    counting = {
        "CA": run.counter(timed["AS"], f"{engine}-app-sync-count"),
        "CT": run.counter(timed["AT"], f"{engine}-app-task-count"),
        "CF": run.counter(timed["FL"], f"{engine}-floor-count"),
    }
    sql, tallies, summary = _measure(run, timed, counting, f"webhooks/{engine}", 1000)
    app, task, floor = (summary[timed[c].label] for c in ("AS", "AT", "FL"))
    run.results[f"webhooks_{engine}"] = {
        "targets": summary,
        "sql": sql,
        "ratios": {**ratios(app, floor, "sync_"), **ratios(task, floor, "task_")},
        "round_ratios": {
            "sync": round_ratios(tallies["AS"], tallies["FL"]),
            "task": round_ratios(tallies["AT"], tallies["FL"]),
        },
    }


def growth(run: Run, dbs: Databases) -> None:
    """Part 2: the app (sync) with an empty table and with ``preload_rows`` events."""
    engine = dbs.engine
    log(f"growth on {engine}")
    empty = dbs.fresh("empty")
    big, preload_info = dbs.preloaded(run.scale.preload_rows)
    size = short_count(run.scale.preload_rows)
    timed = {
        "EM": _target(run.server(f"{engine}-app-0", empty), "app"),
        "GR": _target(run.server(f"{engine}-app-{size}", big), "app"),
    }
    counting = {"CG": run.counter(timed["GR"], f"{engine}-app-{size}-count")}
    sql, tallies, summary = _measure(run, timed, counting, f"growth/{engine}", 2000)
    small, large = (summary[timed[c].label] for c in ("EM", "GR"))
    run.results[f"growth_{engine}"] = {
        "targets": summary,
        "sql_at_size": sql,
        "stored_before": preload_info["rows"],
        "preload": preload_info,
        "ratios": ratios(large, small),
        "round_ratios": round_ratios(tallies["GR"], tallies["EM"]),
    }


def memory(run: Run, dbs: Databases) -> None:
    """Part 4: one worker's resident memory over ``memory_requests`` webhooks."""
    engine, scale = dbs.engine, run.scale
    log(f"memory on {engine}: {scale.memory_requests:,} webhooks to one worker")
    target = _target(Server(f"{engine}-app-memory", dbs.fresh("memory"), "sync", workers=1), "app")
    server = target.server
    checkpoints: list[dict[str, Any]] = []
    tally = Tally()
    with serving(server):
        (pid,) = server.worker_pids()
        warm = load(
            target,
            max(scale.warmup, 100),
            scale,
            prefix=run.prefix(server.db, "ME", "w"),
            seed=3000,
        )
        run.check(ok(warm), f"memory warm-up: {warm['statuses']}")
        run.expect(target, "ME", warm["unique_events"])
        served = warm["requests"]
        checkpoints.append({"requests": served, "rss_kib": rss_kib(pid)})
        chunk = scale.memory_requests // scale.memory_checkpoints
        deadline = time.monotonic() + scale.memory_seconds
        for n in range(scale.memory_checkpoints):
            left = deadline - time.monotonic()
            if left <= 0:
                log(f"memory: time bound of {scale.memory_seconds} s reached")
                break
            result = load(
                target,
                chunk,
                scale,
                prefix=run.prefix(server.db, "ME", f"{n:02d}"),
                seed=3001 + n,
                seconds=left,
            )
            tally.add(result)
            run.expect(target, "ME", result["unique_events"])
            served += result["requests"]
            checkpoints.append({"requests": served, "rss_kib": rss_kib(pid)})
            log(f"memory: {served:,} served, RSS {checkpoints[-1]['rss_kib'] / 1024:.1f} MiB")
        run.check(server.worker_pids() == [pid], "memory: the worker was replaced")
    run.check(tally.failures() == 0, f"memory: non-2xx answers {tally.statuses}")
    verified = run.verify_stored()[server.label]
    start, end = checkpoints[0]["rss_kib"], checkpoints[-1]["rss_kib"]
    run.results[f"memory_{engine}"] = {
        "checkpoints": checkpoints,
        "start_mib": start / 1024,
        "end_mib": end / 1024,
        "growth_mib": (end - start) / 1024,
        "per_second": tally.summary()["per_second"],
        "failures": tally.failures(),
        "verified": verified,
        "planned_requests": scale.memory_requests,
        "time_bound_s": scale.memory_seconds,
    }
