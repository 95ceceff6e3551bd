from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.apps import AppConfig


def block_mid_dispatch(sender: Any, event: Any, **kwargs: Any) -> None:
    """Note that dispatch started (with this worker's pid), wait while ``block`` exists,
    then note that it completed. Runs inside the transaction holding the event's lock."""
    directory = Path(os.environ["KILLTEST_DIR"])
    with (directory / "started").open("a") as started:
        started.write(f"{os.getpid()}\n")
    while (directory / "block").exists():
        time.sleep(0.01)
    with (directory / "completed").open("a") as completed:
        completed.write(f"{os.getpid()}\n")


class KillTestConfig(AppConfig):
    name = "tests.killtest"
    label = "killtest"

    def ready(self) -> None:
        from django_stripe_portal.signals import webhook_received

        webhook_received.connect(block_mid_dispatch, weak=False)
