"""Catch-up from Stripe's Events API: events the webhook endpoint never got, received late.

An outage longer than Stripe's retries (about three days), an endpoint Stripe
disabled or a signing secret the site did not have yet loses deliveries, not
events: ``GET /v1/events`` keeps them for 30 days. :func:`catch_up` lists the
window, keeps the events not stored yet and feeds them, oldest first, through
the same steps as a delivery (``accept_event``, then the store-once insert, the state
write and the signals, with ``received_via="events_api"``), once. In sync mode a page
of events at a time (``receive_batch``): one insert and one transaction per page, each
event in its own savepoint. An event read with the API key needs no signature check.

Stored events (whatever their status) are left alone, so a run repeated, or beside
live deliveries of the same events, dispatches nothing twice: the store-once insert
decides which of the two receives a given event.

Stripe lists newest first. To process oldest first, the listing is read to the end
before anything is received. Only the events not stored yet are kept, as compact JSON
in an anonymous temporary file (a few KB each on disk), with about a hundred bytes per
event in memory to sort them: memory stays flat however long the outage was.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, NamedTuple

from django.db.models import Max
from django.utils import timezone
from stripe.params import EventListParams

from django_stripe_portal import signals
from django_stripe_portal.client import get_client
from django_stripe_portal.conf import get_settings
from django_stripe_portal.events import CONNECT_ENDPOINT_EVENTS, HANDLED_EVENTS
from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.accept import accept_event
from django_stripe_portal.webhooks.event_listing import PAGE_SIZE, EventListing, list_params
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.process import Outcome
from django_stripe_portal.webhooks.receive import receive_event
from django_stripe_portal.webhooks.receive_batch import receive_batch
from django_stripe_portal.webhooks.young_collections import fewer_young_collections

logger = logging.getLogger("django_stripe_portal.webhooks")

#: How far back ``GET /v1/events`` reaches.
RETENTION = timedelta(days=30)
#: The default window starts this long before the newest stored event: events created
#: around then may have been missed while later ones arrived (Stripe does not deliver
#: in order, and a delivery retried for hours carries its original ``created``).
SAFETY_OVERLAP = timedelta(hours=1)
#: ``types`` takes "an array of up to 20 strings": more types are listed in several runs.
MAX_TYPES_PER_LISTING = 20
#: A progress line at most this often (events), or when this many seconds passed.
PROGRESS_EVERY = 1000
PROGRESS_SECONDS = 5.0

#: Each listed event's compact JSON for the spool, by one encoder: ``json.dumps`` with
#: ``separators`` builds a new encoder on every call (a tenth of the encoding's time).
#: ``ensure_ascii`` (its default): a lone surrogate stays an escape, refused by
#: ``parse_event`` as it would be in a delivery, instead of failing to encode here.
_SPOOL_JSON = json.JSONEncoder(separators=(",", ":"))

#: NOT_ENQUEUED: stored pending while the task broker was down; the recovery sweep runs it.
_NEW = {Outcome.PROCESSED, Outcome.IGNORED, Outcome.ENQUEUED, Outcome.NOT_ENQUEUED}
#: BUSY: a live delivery holds the row right now, so it is stored and being processed.
_ALREADY_STORED = {Outcome.DUPLICATE, Outcome.BUSY}


class WindowRefused(ValueError):
    """The asked window cannot be listed (beyond Stripe's 30 days, say); says what to ask."""


@dataclass(frozen=True)
class Window:
    """Where the listing starts (``created[gte]``) and why there."""

    start: datetime
    reason: str


class _Listed(NamedTuple):
    created: int
    #: Minus the place in Stripe's newest-first listing: ascending sorts ties oldest first.
    order: int
    stripe_id: str
    type: str
    #: Where its JSON is in the spool file.
    offset: int
    length: int


@dataclass
class CatchUpResult:
    """What a run found and did; ``to_receive`` lists (id, type, created) of a dry run."""

    listed: int = 0
    new: int = 0
    already_stored: int = 0
    failed: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    to_receive: list[tuple[str, str, int]] = field(default_factory=list)
    #: API versions other than ``STRIPE_PORTAL['API_VERSION']`` among the listed events.
    other_api_versions: Counter[str] = field(default_factory=Counter)


def catch_up_window(
    *,
    since: datetime | None = None,
    hours: float | None = None,
    now: datetime | None = None,
    account: str = "",
) -> Window:
    """The start of the listing: ``since``, ``hours`` ago, or by default the newest stored
    event of ``account`` (``""``: the platform) minus :data:`SAFETY_OVERLAP` (at most
    Stripe's 30 days back).

    Raises :class:`WindowRefused` for a window Stripe cannot list.
    """
    now = now or timezone.now()
    oldest = now - RETENTION
    limit_hours = int(RETENTION.total_seconds() // 3600)
    if hours is not None:
        if not hours > 0:
            raise WindowRefused(f"--hours {hours:g}: give a number of hours above 0.")
        start, asked = now - timedelta(hours=hours), f"--hours {hours:g}"
    elif since is not None:
        start, asked = since, f"--since {since.isoformat()}"
    else:
        # This account's events only: one whose events kept arriving while another's did
        # not (the Connect endpoint up, the platform's down, or the reverse) must not
        # shorten the other's window.
        newest = WebhookEvent.objects.filter(account=account).aggregate(newest=Max("created_at"))[
            "newest"
        ]
        if newest is None:
            return Window(oldest, "no event of it is stored yet: Stripe's whole 30 days")
        start = newest - SAFETY_OVERLAP
        if start < oldest:
            return Window(
                oldest,
                f"the newest stored event is from {newest:%Y-%m-%d %H:%M} UTC, older than "
                "Stripe keeps events: its whole 30 days (anything older is gone from the "
                "Events API; `manage.py sync_subscriptions` restores subscription state)",
            )
        return Window(
            start,
            f"the newest stored event ({newest:%Y-%m-%d %H:%M} UTC) minus "
            f"{SAFETY_OVERLAP.total_seconds() / 3600:g} hour of overlap",
        )
    if start < oldest:
        reach = (now - start).total_seconds() / 86400
        raise WindowRefused(
            f"{asked} reaches back {reach:.1f} days, but Stripe's Events API keeps events "
            f"for 30 days only ({limit_hours} hours). Ask for at most --hours {limit_hours} "
            f"or --since {(oldest + timedelta(days=1)):%Y-%m-%d}; for older changes, "
            "`manage.py sync_subscriptions` restores subscription state (without signals)."
        )
    if start > now:
        raise WindowRefused(f"{asked} is in the future: nothing to list yet.")
    return Window(start, asked)


def catch_up_types(only: Sequence[str] = (), *, connect: bool = False) -> list[str]:
    """The event types to list: ``only``, or those the app handles plus any a host
    connected a per-type receiver to with ``signals.on()``; for a connected account
    (``connect``) also ``account.application.*``, which only a Connect endpoint gets."""
    if only:
        wildcards = [name for name in only if "*" in name]
        if wildcards:
            raise WindowRefused(
                f"--type {wildcards[0]}: the Events API filters by exact event names "
                "(customer.subscription.updated), not wildcards."
            )
        return list(dict.fromkeys(only))
    handled = CONNECT_ENDPOINT_EVENTS if connect else HANDLED_EVENTS
    return sorted({*handled, *signals.event_types_with_receivers()})


def catch_up(
    window: Window,
    types: Sequence[str],
    *,
    undelivered: bool = False,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    account: str = "",
) -> CatchUpResult:
    """List ``types`` since ``window.start`` and receive every event not stored yet,
    oldest first. ``account``: a connected account's Events API (``Stripe-Account``),
    ``""`` the platform's. Stripe errors (``stripe.StripeError``) propagate: nothing is
    received unless the whole listing was read."""
    conf = get_settings()
    result = CatchUpResult()
    with tempfile.TemporaryFile() as spool, fewer_young_collections():
        listing = EventListing(get_client(), account)
        missing = _missing_events(
            listing, window, types, undelivered, result, _Progress(progress), spool
        )
        if dry_run:
            result.to_receive = [(item.stripe_id, item.type, item.created) for item in missing]
            return result
        _receive_all(missing, spool, conf.livemode, result, _Progress(progress))
    return result


def _receive_all(
    missing: list[_Listed],
    spool: IO[bytes],
    livemode: bool,
    result: CatchUpResult,
    meter: _Progress,
) -> None:
    """A page at a time: in sync mode each page is stored with one statement and
    processed in one transaction (``receive_batch``); task mode enqueues each event."""
    one_at_a_time = get_settings().WEBHOOK_PROCESSING == "task"
    for start in range(0, len(missing), PAGE_SIZE):
        page: list[_Listed] = []
        accepted: list[tuple[dict[str, Any], Interpretation]] = []
        for item in missing[start : start + PAGE_SIZE]:
            spool.seek(item.offset)
            body = spool.read(item.length)
            try:
                event, meaning = accept_event(body, livemode)
            except Exception as exc:
                _count(result, item, exc)
            else:
                accepted.append((event, meaning))
                page.append(item)
        if one_at_a_time:
            outcomes = [_receive_alone(event, meaning) for event, meaning in accepted]
        else:
            outcomes = receive_batch(accepted, received_via=WebhookEvent.ReceivedVia.EVENTS_API)
        for item, outcome in zip(page, outcomes, strict=True):
            _count(result, item, outcome)
        done = min(start + PAGE_SIZE, len(missing))
        if meter.due(done):
            meter.write(
                f"received {done:,} of {len(missing):,} event(s): "
                f"{result.new:,} new, {result.failed:,} failed"
            )


def _missing_events(
    listing: EventListing,
    window: Window,
    types: Sequence[str],
    undelivered: bool,
    result: CatchUpResult,
    meter: _Progress,
    spool: IO[bytes],
) -> list[_Listed]:
    """Every listed event not stored yet, oldest first, its JSON written to ``spool``."""
    pinned = get_settings().api_version
    missing: list[_Listed] = []
    seen: set[str] = set()
    listing_of: dict[str, int] = {}
    for chunk_start in range(0, max(len(types), 1), MAX_TYPES_PER_LISTING):
        chunk = list(types[chunk_start : chunk_start + MAX_TYPES_PER_LISTING])
        position = 0
        for page in listing.pages(list_params(window.start, chunk, undelivered)):
            page = [event for event in page if event.get("id") not in seen]
            ids = [str(event.get("id")) for event in page]
            seen.update(ids)
            stored = set(
                WebhookEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", flat=True)
            )
            for event in page:
                position += 1
                result.listed += 1
                version = event.get("api_version")
                if version and version != pinned:
                    result.other_api_versions[str(version)] += 1
                if event["id"] in stored:
                    result.already_stored += 1
                    continue
                body = _SPOOL_JSON.encode(event).encode()
                created = event.get("created")
                listing_of[str(event["id"])] = chunk_start
                missing.append(
                    _Listed(
                        created if isinstance(created, int) else 0,
                        -position,
                        str(event["id"]),
                        str(event.get("type")),
                        spool.tell(),
                        len(body),
                    )
                )
                spool.write(body)
            if meter.due(result.listed):
                meter.write(
                    f"listed {result.listed:,} event(s) so far, "
                    f"{len(missing):,} of them not stored yet"
                )
    missing = _in_stripes_order_across_listings(listing, missing, listing_of)
    missing.sort()
    return missing


def _in_stripes_order_across_listings(
    listing: EventListing, missing: list[_Listed], listing_of: dict[str, int]
) -> list[_Listed]:
    """``missing`` with the places of events of one second that came from different
    listings (more than 20 types) taken from one listing of that second, all types: each
    listing's places say the order within it only. A second whose events all came from
    one listing costs nothing."""
    listings_by_second: dict[int, set[int]] = {}
    for item in missing:
        listings_by_second.setdefault(item.created, set()).add(listing_of[item.stripe_id])
    mixed = sorted(second for second, found in listings_by_second.items() if len(found) > 1)
    place: dict[str, int] = {}
    for second in mixed:
        params: EventListParams = {"limit": PAGE_SIZE, "created": second}
        ids = [str(event.get("id")) for page in listing.pages(params) for event in page]
        place.update((stripe_id, index) for index, stripe_id in enumerate(ids, 1))
    return [
        item._replace(order=-place[item.stripe_id]) if item.stripe_id in place else item
        for item in missing
    ]


def _receive_alone(event: dict[str, Any], meaning: Interpretation) -> Outcome | Exception:
    try:
        return receive_event(event, meaning, received_via=WebhookEvent.ReceivedVia.EVENTS_API)
    except Exception as exc:
        return exc


def _count(result: CatchUpResult, item: _Listed, outcome: Outcome | Exception) -> None:
    """Count one event's outcome (or the exception that kept it from being stored)."""
    if isinstance(outcome, WebhookRefused):
        reason = outcome.reason if outcome.detail == outcome.reason else str(outcome)
        _record_failure(result, item, f"refused: {reason}")
    elif isinstance(outcome, Exception):
        logger.error(
            "Receiving Stripe event %s from the Events API failed",
            item.stripe_id,
            exc_info=(type(outcome), outcome, outcome.__traceback__),
        )
        _record_failure(result, item, f"{type(outcome).__name__}: {outcome}")
    elif outcome in _NEW:
        result.new += 1
    elif outcome in _ALREADY_STORED:
        result.already_stored += 1
    else:
        _record_failure(
            result, item, f"{outcome.value}: see the event's last error in the admin and the log"
        )


def _record_failure(result: CatchUpResult, item: _Listed, reason: str) -> None:
    result.failed += 1
    result.failures.append((item.stripe_id, item.type, reason))
    logger.error("Catch-up of Stripe event %s (%s) failed: %s", item.stripe_id, item.type, reason)


class _Progress:
    """Says when a progress line is due: every :data:`PROGRESS_EVERY` events or
    :data:`PROGRESS_SECONDS` seconds, whichever comes first."""

    def __init__(self, write: Callable[[str], None] | None) -> None:
        self._write = write
        self.last_count = 0
        self.last_time = time.monotonic()

    def due(self, count: int) -> bool:
        if self._write is None:
            return False
        now = time.monotonic()
        if count - self.last_count >= PROGRESS_EVERY or now - self.last_time >= PROGRESS_SECONDS:
            self.last_count, self.last_time = count, now
            return True
        return False

    def write(self, message: str) -> None:
        if self._write is not None:
            self._write(message)
