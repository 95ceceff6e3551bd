"""Python's cycle collector paused while a report builds its rows."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Tens of thousands of small rows in a row (the customers at risk) make the cycle
    collector run hundreds of times over the whole heap: 0.12-0.16 s of a 1.1 s list at
    30,000 customers. The rows hold no reference cycles, so nothing waits for it; it is
    switched back on after, unless the host had switched it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
