"""One benchmark run and the one way every part measures: a counting pass for SQL, a
warm-up per target, then interleaved rounds (A B C, C B A, …) of the same requests, so
that each target sees the same machine noise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from databases import Database, count_stored
from load import Tally, Target, load
from scale import Scale, log
from servers import Server, distinct, serving, start_profilers, stop_counters, stop_profilers

#: Where each target stores events (Django's default table names of the two models).
STORED_TABLES = {"app": "django_stripe_portal_webhookevent", "floor": "benchproject_floorevent"}
#: What one request of each kind is called in the reports.
UNITS = {"webhook": "delivery", "redirect": "click"}


def interleaved(rounds: int, labels: list[str]) -> list[list[str]]:
    """A B C, C B A, A B C …: every target runs first and last equally often."""
    return [labels if r % 2 == 0 else list(reversed(labels)) for r in range(rounds)]


def ok(result: dict[str, Any], *, redirects_ok: bool = False) -> bool:
    limit = 400 if redirects_ok else 300
    return all(200 <= int(status) < limit for status in result["statuses"])


def brief(result: dict[str, Any]) -> dict[str, Any]:
    return {"requests": result["requests"], "statuses": result["statuses"]}


def ratios(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Throughput and p99 of one target's summary over another's."""
    return {
        f"{prefix}throughput": a["per_second"] / b["per_second"],
        f"{prefix}p99": a["p99_ms"] / b["p99_ms"],
    }


def round_ratios(a: Tally, b: Tally) -> list[float]:
    return [
        round(x / y, 3) if y else 0.0 for x, y in zip(a.round_rates, b.round_rates, strict=True)
    ]


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

    def counter(self, timed: Target, label: str) -> Target:
        """The target of the SQL counting pass: its own one-worker server beside ``timed``
        (the same server in a smoke run, to save start-ups)."""
        if self.smoke:
            return timed
        server = Server(
            label,
            timed.server.db,
            timed.server.processing,
            workers=1,
            count_sql=True,
            stripe_api=timed.server.stripe_api,
            env=timed.server.env,
        )
        return Target(server, timed.kind, timed.path, timed.table, timed.sessions)

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
            log(f"PROBLEM: {problem}")

    # ------------------------------------------------------------ stored exactly once

    def expect(self, target: Target, code: str, unique: int) -> None:
        """Note that ``unique`` more events with ``code`` must be in the target's database."""
        if target.kind != "webhook":
            return
        server = target.server
        prefix = f"evt_{self.id}{server.db.engine[0]}{code}"
        key = (server.db.name, target.table, prefix)
        _, so_far = self._expected.get(key, (server, 0))
        self._expected[key] = (server, so_far + unique)

    def verify_stored(self) -> dict[str, Any]:
        """Every unique event sent is stored exactly once (counted straight in the database)."""
        verified: dict[str, Any] = {}
        for (_, table, prefix), (server, expected) in self._expected.items():
            stored, distinct = count_stored(server.db, STORED_TABLES[table], prefix)
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

    # ------------------------------------------------------------ measuring

    def sql_pass(
        self, counting: dict[str, Target], calls_made: Callable[[], int] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Statements per request of each target (first deliveries and redeliveries
        together), by code; with ``calls_made``, the Stripe calls per request too."""
        counted: dict[str, dict[str, Any]] = {}
        for code, target in counting.items():
            before = calls_made() if calls_made else 0
            result = load(
                target,
                self.scale.count_pass,
                self.scale,
                prefix=self.prefix(target.server.db, code, "c"),
                seed=99,
            )
            redirects_ok = target.kind == "redirect"
            self.check(
                result["sql_responses"] == result["requests"], f"{target.label}: no SQL header"
            )
            self.check(
                ok(result, redirects_ok=redirects_ok),
                f"{target.label} (counting pass): {result['statuses']}",
            )
            requests = max(result["requests"], 1)
            unit = UNITS[target.kind]
            counted[code] = {
                f"statements_per_{unit}": round(result["sql_statements"] / requests, 2),
                "by_verb": {
                    v: round(n / requests, 2) for v, n in sorted(result["sql_verbs"].items())
                },
            }
            if calls_made:
                counted[code][f"stripe_calls_per_{unit}"] = (calls_made() - before) / requests
            counted[code].update(brief(result))
            self.expect(target, code, result["unique_events"])
        return counted

    def measure(
        self,
        timed: dict[str, Target],
        counting: dict[str, Target],
        *,
        tag: str,
        cap: int,
        seed_base: int,
        calls_made: Callable[[], int] | None = None,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Tally]]:
        """Every server up at once; the SQL counting pass, its own servers stopped, then
        the timed rounds. Returns the counts and the tallies, by code."""
        servers = [t.server for t in timed.values()]
        counters = [t.server for t in counting.values()]
        with serving(*distinct(counters, servers)):
            counted = self.sql_pass(counting, calls_made)
            stop_counters(counters, servers)
            tallies = self.interleaved_rounds(
                timed, tag=tag, cap=cap, seed_base=seed_base, calls_made=calls_made
            )
        return counted, tallies

    def interleaved_rounds(
        self,
        targets: dict[str, Target],
        *,
        tag: str,
        cap: int,
        seed_base: int,
        calls_made: Callable[[], int] | None = None,
    ) -> dict[str, Tally]:
        """A warm-up of each target, then interleaved rounds of the same requests.

        ``calls_made`` (the Stripe stub's count of sessions) is read around every round:
        each click must make exactly one call.
        """
        rates = []
        for code, target in targets.items():
            warm = load(
                target,
                self.scale.warmup,
                self.scale,
                prefix=self.prefix(target.server.db, code, "w"),
                seed=seed_base,
            )
            self.check(
                ok(warm, redirects_ok=target.kind == "redirect"),
                f"{target.label} warm-up: {warm['statuses']}",
            )
            self.expect(target, code, warm["unique_events"])
            rates.append(warm["requests"] / warm["elapsed"])
        count = self.round_count(cap, rates)
        tallies = {code: Tally(extra={"per_round": count}) for code in targets}
        calls = dict.fromkeys(targets, 0)
        profilers = start_profilers([t.server for t in targets.values()]) if self.profile else []
        try:
            for round_no, order in enumerate(interleaved(self.scale.rounds, list(targets))):
                for code in order:
                    target = targets[code]
                    before = calls_made() if calls_made else 0
                    result = load(
                        target,
                        count,
                        self.scale,
                        prefix=self.prefix(target.server.db, code, f"{round_no:02d}"),
                        seed=seed_base + round_no,  # the same events for every target
                    )
                    if calls_made:
                        calls[code] += calls_made() - before
                    tallies[code].add(result)
                log(
                    f"{tag} round {round_no + 1}/{self.scale.rounds}: "
                    + ", ".join(
                        f"{targets[c].label} {tallies[c].round_rates[-1]:.0f}/s" for c in targets
                    )
                )
        finally:
            stop_profilers(profilers)
        for code, target in targets.items():
            tally = tallies[code]
            redirects_ok = target.kind == "redirect"
            failures = tally.failures(redirects_ok=redirects_ok)
            self.check(failures == 0, f"{target.label}: {failures} failed answers {tally.statuses}")
            if calls_made:
                tally.extra["stripe_calls_per_click"] = calls[code] / max(tally.requests, 1)
                self.check(
                    calls[code] == tally.requests,
                    f"{target.label}: {calls[code]} Stripe calls for {tally.requests} clicks",
                )
            self.expect(target, code, tally.unique_events)
        return tallies
