from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.apps import AppConfig


def block_mid_dispatch(sender: Any, event: Any, **kwargs: Any) -> None:
    """Note that dispatch started (with this worker's pid), wait while ``block`` exists,
    then note that it completed. Runs inside the transaction holding the event's lock.
    A number in ``block`` lets that many dispatches through first (catch-up's pages)."""
    directory = Path(os.environ["KILLTEST_DIR"])
    started_file = directory / "started"
    with started_file.open("a") as started:
        started.write(f"{os.getpid()}\n")
    block = directory / "block"
    let_through = block.read_text().strip() if block.exists() else ""
    if let_through and len(started_file.read_text().splitlines()) <= int(let_through):
        return _completed(directory)
    while block.exists():
        time.sleep(0.01)
    _completed(directory)


def _completed(directory: Path) -> None:
    with (directory / "completed").open("a") as completed:
        completed.write(f"{os.getpid()}\n")


class KillTestConfig(AppConfig):
    name = "tests.killtest"
    label = "killtest"

    def ready(self) -> None:
        from django_stripe_portal.signals import webhook_received

        webhook_received.connect(block_mid_dispatch, weak=False)
