"""Receivers that leave a trace another process can read: one line per call in files
under ``ENGINES_DIR``, so the test counts dispatches across worker processes.

- ``started``/``completed``: ``<evt id> <pid>`` per dispatch; an event whose id is in
  the file ``block`` waits there (mid-dispatch, row lock held) while that file exists;
- ``committed``: ``<evt id> <pid>`` once the dispatch's transaction has committed (a
  process killed mid-dispatch never writes it, nor one killed between its commit and the
  line); with ``ENGINES_COMMITTED_TABLE`` set, a row of that table instead, inserted in the
  dispatch's own transaction: there exactly when the dispatch committed;
- ``flaky``: events listed there raise on their first two attempts;
- ``always_failing``: events listed there always raise;
- ``gave_up``: one line per ``webhook_gave_up``;
- ``entitlements_changed``: one JSON line per ``entitlements_changed`` (the event, the
  customer, the sorted ``added`` and ``removed``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.db import connection, transaction


def _directory() -> Path:
    return Path(os.environ["ENGINES_DIR"])


def _listed(name: str, stripe_id: str) -> bool:
    path = _directory() / name
    return path.exists() and stripe_id in path.read_text().split()


def _note(name: str, stripe_id: str) -> None:
    with (_directory() / name).open("a") as file:
        file.write(f"{stripe_id} {os.getpid()}\n")


def record_dispatch(sender: Any, event: Any, **kwargs: Any) -> None:
    _note("started", event.stripe_id)
    while _listed("block", event.stripe_id):
        time.sleep(0.01)
    if _listed("always_failing", event.stripe_id) or (
        _listed("flaky", event.stripe_id) and event.attempts <= 2
    ):
        raise ConnectionError(f"the mail server is down (attempt {event.attempts})")
    _note("completed", event.stripe_id)
    table = os.environ.get("ENGINES_COMMITTED_TABLE")
    if table:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (stripe_id, pid) VALUES (%s, %s)",  # noqa: S608 (the test's)
                [event.stripe_id, os.getpid()],
            )
    else:
        transaction.on_commit(lambda: _note("committed", event.stripe_id))


def record_gave_up(sender: Any, event: Any, **kwargs: Any) -> None:
    _note("gave_up", event.stripe_id)


def record_entitlements_changed(
    sender: Any,
    event: Any,
    customer_id: str,
    added: frozenset[str],
    removed: frozenset[str],
    **kwargs: Any,
) -> None:
    change = {
        "event": event.stripe_id,
        "customer": customer_id,
        "added": sorted(added),
        "removed": sorted(removed),
    }
    with (_directory() / "entitlements_changed").open("a") as file:
        file.write(json.dumps(change) + "\n")


class EnginesConfig(AppConfig):
    name = "tests.engines"
    label = "engines"

    def ready(self) -> None:
        from django_stripe_portal.signals import (
            entitlements_changed,
            webhook_gave_up,
            webhook_received,
        )

        webhook_received.connect(record_dispatch, weak=False)
        webhook_gave_up.connect(record_gave_up, weak=False)
        entitlements_changed.connect(record_entitlements_changed, weak=False)
