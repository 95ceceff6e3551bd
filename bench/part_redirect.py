"""The portal redirect part: the app's button against the bare SDK call (floor) and the
floor plus the visit's INSERT, all three talking to the stub of Stripe's session endpoint."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from databases import Databases
from load import Target
from rounds import Run, ratios, round_ratios
from scale import log

REDIRECT_PATHS = {
    "app": "/billing/portal/",
    "floor": "/floor/portal/",
    "floor_recorded": "/floor/portal-recorded/",
}


def stub_stats(stub: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{stub}/__stats", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def redirect(run: Run, dbs: Databases, stub_port: int) -> None:
    """Part 3: the portal button (app) vs the bare SDK call (floor), against the stub."""
    engine = dbs.engine
    log(f"portal redirect on {engine}")
    stub = f"http://127.0.0.1:{stub_port}"
    label = f"{engine}-redirect"
    roles = {
        "A": ("app", "app"),
        "F": ("floor", "floor"),
        "R": ("floor-recorded", "floor_recorded"),
    }
    targets = {}
    for code, (role, path) in roles.items():
        db = dbs.fresh(f"redirect_{path}")
        server = run.server(f"{label}-{role}", db, stripe_api=stub)
        # The databases are clones of the template, which holds the signed-in users.
        targets[code] = Target(server, "redirect", REDIRECT_PATHS[path], sessions=dbs.sessions)
    counting = {code: run.counter(t, f"{t.label}-count") for code, t in targets.items()}

    def sessions_made() -> int:
        return stub_stats(stub)["sessions"]

    counted, tallies = run.measure(
        targets,
        counting,
        tag=f"redirect/{engine}",
        cap=run.scale.redirect_count,
        seed_base=1,
        calls_made=sessions_made,
    )
    per_click = {targets[code].label: counts for code, counts in counted.items()}
    summary: dict[str, Any] = {
        targets[code].label: tally.summary(redirects_ok=True) for code, tally in tallies.items()
    }
    invalid = stub_stats(stub)["invalid"]
    run.check(invalid == 0, f"the stub found {invalid} session requests invalid")
    app, floor, recorded = (summary[targets[c].label] for c in "AFR")
    run.results[f"redirect_{engine}"] = {
        "targets": summary,
        "per_click": per_click,
        "ratios": {**ratios(app, floor), **_suffixed(ratios(app, recorded), "_vs_recorded")},
        "round_ratios": round_ratios(tallies["A"], tallies["F"]),
    }


def _suffixed(figures: dict[str, float], suffix: str) -> dict[str, float]:
    return {f"{name}{suffix}": value for name, value in figures.items()}
