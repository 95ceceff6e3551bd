"""Signing and delivering events to the example project's webhook endpoint, as Stripe does.

Events are delivered in order by one worker thread and retried a few times
when the endpoint is not up yet. A caller that needs the site to know about a
change before it continues (the portal page, before sending the user back)
waits for that delivery.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import stripe

logger = logging.getLogger("stripe_standin")

RETRY_DELAYS = (0.5, 1, 2, 4, 8)


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send with ``payload``."""
    return str(
        stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp)
    )


@dataclass
class Delivery:
    event: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    attempts: int = 0


class WebhookSender:
    """Delivers each event once to ``url`` (if set), signed with ``secret``, or with
    ``connect_secret`` when it is a connected account's (it carries ``account``), as the
    platform's Connect endpoint signs those."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        timeout: float = 15,
        *,
        connect_secret: str | None = None,
        on_delivered: Callable[[str], object] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.connect_secret = connect_secret
        self.timeout = timeout
        #: Called with the event id once the endpoint answered 2xx (the Events API's
        #: ``delivery_success``).
        self.on_delivered = on_delivered
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._gate = threading.Event()
        self._gate.set()
        self._worker = threading.Thread(target=self._run, name="standin-webhooks", daemon=True)
        self._worker.start()

    def send(self, event: dict[str, Any]) -> Delivery:
        delivery = Delivery(event)
        if not self.url:
            delivery.done.set()
            return delivery
        self._queue.put(delivery)
        return delivery

    @contextmanager
    def held(self) -> Iterator[None]:
        """Queue events without delivering them until the block ends.

        For tests whose database is one connection shared with the site's thread
        (in-memory SQLite): nothing arrives while the test itself is writing.
        """
        self._gate.clear()
        try:
            yield
        finally:
            self._gate.set()

    def wait_until_idle(self, timeout: float = 30) -> bool:
        """Wait until every event queued so far was delivered (or given up on)."""
        if not self.url:
            return True
        barrier = Delivery(event={})
        self._queue.put(barrier)
        return barrier.done.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while (delivery := self._queue.get()) is not None:
            self._gate.wait()
            if delivery.event:  # an empty one is wait_until_idle's barrier
                self._deliver(delivery)
            delivery.done.set()

    def _deliver(self, delivery: Delivery) -> None:
        payload = json.dumps(delivery.event, indent=2).encode()
        secret = self.secret
        if delivery.event.get("account"):
            if not self.connect_secret:
                logger.warning(
                    "stand-in: no Connect secret; not delivering %s", delivery.event["id"]
                )
                return
            secret = self.connect_secret
        for delay in (0, *RETRY_DELAYS):
            time.sleep(delay)
            delivery.attempts += 1
            delivery.status = self._post(payload, secret)
            if delivery.status is not None and 200 <= delivery.status < 300:
                if self.on_delivered is not None:
                    self.on_delivered(delivery.event["id"])
                return
        logger.warning(
            "stand-in: gave up delivering %s %s (last answer: %s)",
            delivery.event["type"],
            delivery.event["id"],
            delivery.status,
        )

    def _post(self, payload: bytes, secret: str) -> int | None:
        assert self.url
        request = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) stand-in",
                "Stripe-Signature": signature_header(payload, secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None
