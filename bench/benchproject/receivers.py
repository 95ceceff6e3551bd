"""One no-op receiver on each of the app's signals: the cost of dispatch is timed,
not the work a host project would do. With ``BENCH_RECEIVED_LOG`` set, one more
receiver notes when each event reached ``webhook_received`` (end-to-end latency); with
``BENCH_COMMITTED_LOG``, one notes each dispatch once its transaction has committed
(a process killed mid-dispatch notes nothing: dispatches that took effect, counted)."""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal

from django_stripe_portal import signals


def _noop_receiver(sender: Any, **kwargs: Any) -> None:
    """Does nothing: a host project's receiver would do its own work here."""


def _note_received(sender: Any, event: Any = None, **kwargs: Any) -> None:
    """Append ``<event id> <time.time()>``: one ``write`` on an ``O_APPEND`` file, whole
    lines even from many processes (RQ forks one per job, so no file is kept open)."""
    if event is not None:
        _append(settings.RECEIVED_LOG, event.stripe_id)


def _note_committed(sender: Any, event: Any = None, **kwargs: Any) -> None:
    if event is not None:
        stripe_id = event.stripe_id
        transaction.on_commit(lambda: _append(settings.COMMITTED_LOG, stripe_id))


def _append(path: str, stripe_id: str) -> None:
    line = f"{stripe_id} {time.time():.6f}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def connect_noop_receivers() -> list[str]:
    """Connect ``_noop_receiver`` to every ``Signal`` defined in ``signals``; return their names."""
    names = []
    for name in dir(signals):
        value = getattr(signals, name)
        if isinstance(value, Signal):
            value.connect(_noop_receiver, dispatch_uid=f"bench-noop-{name}")
            names.append(name)
    if getattr(settings, "RECEIVED_LOG", ""):
        signals.webhook_received.connect(_note_received, dispatch_uid="bench-received-log")
    if getattr(settings, "COMMITTED_LOG", ""):
        signals.webhook_received.connect(_note_committed, dispatch_uid="bench-committed-log")
    return names
