"""Python's youngest generation collected less often while a batch of events is read.

Decoding a page of events makes tens of thousands of objects that reference counting
frees; Python's default collects its youngest generation every 700 new objects, which
cost a catch-up run a twentieth of its instructions (``bench/catch_up_instructions.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: The youngest generation is collected after this many new objects (700 by default).
YOUNG_COLLECTION_EVERY = 50_000


@contextmanager
def fewer_young_collections() -> Iterator[None]:
    """Every :data:`YOUNG_COLLECTION_EVERY` new objects inside, the thresholds as they
    were after it (the older generations' are kept). A threshold of 0 (automatic
    collection off, the host's choice) stays 0."""
    thresholds = gc.get_threshold()
    if thresholds[0] == 0:
        yield
        return
    gc.set_threshold(max(thresholds[0], YOUNG_COLLECTION_EVERY), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
