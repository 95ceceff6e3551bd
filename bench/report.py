"""The bench's report: the machine it ran on, the goals' ratios, the figures behind them
(``results.md`` and the results block of ``README.md``), and keeping the parts of an
earlier full run that this run did not repeat."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scale import BENCH, GUNICORN, PG_ADMIN_DSN, ROOT, Scale, short_count


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


#: (part, ratio, what it compares, goal): a goal is (">=" or "<=", bound), None for a
#: figure that is shown but is not a goal. ``{size}`` is the growth part's preload.
GOALS: list[tuple[str, str, str, tuple[str, float] | None]] = [
    ("webhooks", "sync_throughput", "sync throughput / floor", (">=", 0.90)),
    ("webhooks", "sync_p99", "sync p99 / floor", ("<=", 1.20)),
    ("webhooks", "task_throughput", "task throughput / floor", (">=", 0.95)),
    ("webhooks", "task_p99", "task p99 / floor", ("<=", 1.20)),
    ("growth", "throughput", "throughput at {size} / at 0", (">=", 0.90)),
    ("growth", "p99", "p99 at {size} / at 0", None),
    ("redirect", "throughput", "throughput / floor", (">=", 0.90)),
    ("redirect", "p99", "p99 / floor", None),
    ("redirect", "throughput_vs_recorded", "throughput / (floor + visit insert)", (">=", 0.90)),
    ("redirect", "p99_vs_recorded", "p99 / (floor + visit insert)", ("<=", 1.20)),
    ("engines", "db_throughput", "task throughput, django-tasks-db / floor", (">=", 0.90)),
    ("engines", "rq_throughput", "task throughput, django-tasks-rq / floor", (">=", 0.90)),
]


def _goal_rows(results: dict[str, Any]) -> list[str]:
    """One line per goal of the issue: the ratio measured, the goal, whether it is met."""
    rows: list[str] = []
    for engine in ("sqlite", "postgres"):
        for part_name, ratio, compared, goal in GOALS:
            part = results.get(f"{part_name}_{engine}")
            if not part or ratio not in part["ratios"]:
                continue
            value = part["ratios"][ratio]
            size = short_count(part.get("stored_before", 0))
            name = f"{part_name}, {engine}: " + compared.format(size=size)
            if goal is None:
                rows.append(f"| {name} | {value:.2f} |  | — |")
                continue
            sign, bound = goal
            met = value >= bound if sign == ">=" else value <= bound
            shown = "≥" if sign == ">=" else "≤"
            rows.append(
                f"| {name} | {value:.2f} | {shown} {bound:.2f} | {'yes' if met else '**no**'} |"
            )
    return rows


def _target_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for key, part in results.items():
        if not key.startswith(("webhooks_", "growth_", "redirect_", "engines_")):
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


ENGINE_NAMES = {
    "db": "django-tasks-db",
    "dbafter": "django-tasks-db, after the commit",
    "rq": "django-tasks-rq",
    "rqurl": "django-tasks-rq, a connection per enqueue",
    "rqstock": "django-tasks-rq, django-rq's queue class",
    "rqsimple": "django-tasks-rq, SimpleWorker",
    "celery": "Celery (django-tasks-fennel)",
    "discard": "discarding backend",
}


def engines_lines(results: dict[str, Any]) -> list[str]:
    """The tables of part ``engines`` (none when it did not run)."""
    lines: list[str] = []
    for key, part in results.items():
        if not key.startswith("engines_") or "drain" not in part:
            continue
        db_engine = key.split("_", 1)[1]
        lines += ["", f"Task mode on real engines, {db_engine}:", ""]
        lines += ["| ingest target | per second | / floor | p99 ms | p99 / floor | enqueued |"]
        lines += ["| --- | ---: | ---: | ---: | ---: | --- |"]
        for label, t in part.get("targets", {}).items():
            engine = label.rsplit("-", 1)[1]
            ratio = part["ratios"].get(f"{engine}_throughput")
            p99 = part["ratios"].get(f"{engine}_p99")
            enqueued = part["enqueued"].get(engine)
            lines.append(
                f"| {label} | {t['per_second']:.1f} | "
                + (f"{ratio:.2f}" if ratio else "—")
                + f" | {t['p99_ms']:.1f} | "
                + (f"{p99:.2f}" if p99 else "—")
                + " | "
                + (
                    f"{enqueued['tasks']} tasks, {enqueued['distinct_events']} events"
                    if enqueued
                    else "—"
                )
                + " |"
            )
        lines += [
            "",
            "| engine | workers | drain events/s | per worker | p50 ms | p99 ms | at rate |",
        ]
        lines += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for engine, by_workers in part["drain"].items():
            for workers, d in by_workers.items():
                lat = part["latency"][engine][workers]
                lines.append(
                    f"| {ENGINE_NAMES[engine]} | {workers} | {d['per_second']:.0f} | "
                    f"{d['per_second_per_worker']:.0f} | {lat['p50_ms']:.0f} | "
                    f"{lat['p99_ms']:.0f} | {lat['achieved_rate']:.0f}/s |"
                )
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
            if key.startswith(("webhooks_", "growth_", "redirect_", "memory_", "engines_"))
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
        *engines_lines(results),
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


def write_readme_results(markdown: str) -> None:
    readme = BENCH / "README.md"
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{markdown}{end}{tail}")


def merged_with_earlier(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Parts of an earlier full run that this run did not repeat are kept (each part
    carries its ``run_date``), so that one part can be run again on its own."""
    if not path.exists():
        return results
    earlier = json.loads(path.read_text())
    merged = {k: v for k, v in earlier.items() if k not in results and "run_date" in v}
    return {**results, **merged}
