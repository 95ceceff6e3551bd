"""Shared pieces of the webhook tests: receivers that record calls, signed posts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal
from django.test import Client

from django_stripe_portal.testing import sign_payload

SECRET = "whsec_tests"  # tests/settings.py
WEBHOOK_URL = "/billing/webhook/"


class Recorder:
    """A receiver that remembers every call's kwargs (and can be told to raise)."""

    def __init__(self, raises: BaseException | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.raises = raises

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append({"sender": sender, **kwargs})
        if self.raises is not None:
            raise self.raises


@contextmanager
def connected(signal: Signal, receiver: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Connect ``receiver`` for the block only (weak=False: the test owns it)."""
    signal.connect(receiver, weak=False)
    try:
        yield receiver
    finally:
        signal.disconnect(receiver)


def post_raw(client: Client, body: bytes | str, header: str | None, **extra: Any) -> Any:
    if header is not None:
        extra["HTTP_STRIPE_SIGNATURE"] = header
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **extra)


def post_signed(client: Client, event: dict[str, Any], secret: str = SECRET, **extra: Any) -> Any:
    body = json.dumps(event)
    return post_raw(client, body, sign_payload(body, secret), **extra)


def fail_after_dispatching(monkeypatch: Any, stripe_id: str) -> None:
    """Make catch-up's page raise right after dispatching the event ``stripe_id`` (its
    receivers ran; the database "went away"), as a failure mid-page."""
    from django_stripe_portal.webhooks import receive_batch

    dispatch = receive_batch.dispatch_event

    def fails_after_dispatching(row: Any, *args: Any) -> Any:
        failures = dispatch(row, *args)
        if row.stripe_id == stripe_id:
            raise RuntimeError("lost the database for a moment")
        return failures

    monkeypatch.setattr(receive_batch, "dispatch_event", fails_after_dispatching)
