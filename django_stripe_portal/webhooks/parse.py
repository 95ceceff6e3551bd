"""Turn a verified body into the event dict, refusing anything that is not a Stripe event.

Also refused, with a reason, is valid JSON that PostgreSQL cannot store or Python
cannot walk: a 500 would make Stripe retry a delivery that can never succeed.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

from django_stripe_portal.exceptions import WebhookRefused

REDACTED = "[redacted]"

#: Deeper than any Stripe object (about ten levels), far below Python's recursion limit,
#: which the JSON decoder, the NUL scrub and the database adapter all recurse against.
MAX_NESTING = 100


def _refuse_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (Python accepts them; PostgreSQL does not)."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """``1e400`` is valid JSON but becomes ``inf``, which PostgreSQL's ``json`` refuses."""
    value = float(text)
    if math.isinf(value):
        raise WebhookRefused("number out of range", f"{text[:40]} overflows a double")
    return value


# Built once: ``json.loads`` with keyword arguments builds a new decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_event(body: bytes) -> dict[str, Any]:
    """The event as a dict, after checking the envelope fields the app relies on."""
    try:
        # Strict UTF-8: json.loads(bytes) lets UTF-8-encoded lone surrogates through.
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRefused("body is not JSON") from None
    if "\\" in text:  # escapes are rare: one search spares the others below
        if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate_escape(body):
            raise WebhookRefused(
                "lone surrogate in a string", "a \\ud800-\\udfff escape without its pair"
            )
        if "\\u0000" in text:
            text = _without_nul_escapes(text)
    try:
        event = _DECODER.decode(text)
    except RecursionError:
        raise WebhookRefused(
            "nesting too deep", f"deeper than Python's recursion limit (MAX_NESTING={MAX_NESTING})"
        ) from None
    except ValueError:
        raise WebhookRefused("body is not JSON") from None
    # A cheap test on the raw bytes first (C speed): a normal event is never measured.
    if len(body.translate(None, _NOT_OPENING)) > MAX_NESTING:
        depth = _nesting_depth(body)
        if depth > MAX_NESTING:
            raise WebhookRefused("nesting too deep", f"{depth} levels > MAX_NESTING={MAX_NESTING}")
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookRefused("body is not a Stripe event", "no object=event envelope")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise WebhookRefused("body is not a Stripe event", "id is not an evt_… string")
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
        raise WebhookRefused("body is not a Stripe event", "type is missing")
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created < 2**37:
        raise WebhookRefused("body is not a Stripe event", "created is not a Unix time")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise WebhookRefused("body is not a Stripe event", "data.object is not an object")
    previous = data.get("previous_attributes")
    if previous is not None and not isinstance(previous, dict):
        raise WebhookRefused("body is not a Stripe event", "previous_attributes is not an object")
    if not isinstance(event.get("livemode"), bool):
        raise WebhookRefused("body is not a Stripe event", "livemode is not a boolean")
    for key, limit in (("api_version", 50), ("account", 255)):
        value = event.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise WebhookRefused("body is not a Stripe event", f"{key} is not a short string")
    return event


_OPEN_CLOSE = bytes.maketrans(b"{[}]", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"{[}]")))
_NOT_OPENING = bytes(sorted(set(range(256)) - set(b"{[")))
#: A JSON string, escapes included (possessive: linear however the body is made).
_JSON_STRING_RE = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)


def _nesting_depth(body: bytes) -> int:
    """How deep the body's arrays and objects nest, counted on the raw bytes with its
    strings taken out first, so that brackets inside strings can neither hide depth nor
    add to it (C speed, no recursion). Only for a body the decoder took: in valid JSON
    every quote outside a string opens one, so the search stays linear."""
    structure = _JSON_STRING_RE.sub(b"", body).translate(_OPEN_CLOSE, _NOT_BRACKETS)
    if not structure:
        return 0
    return max(0, max(accumulate(array("b", structure))))


_BACKSLASH = ord("\\")
_SURROGATE_ESCAPE_RE = re.compile(rb"\\u[dD]([89abAB]|[c-fC-F])[0-9a-fA-F]{2}")


def _has_lone_surrogate_escape(body: bytes) -> bool:
    """A ``\\ud800``-``\\udbff`` escape not followed by a ``\\udc00``-``\\udfff`` one, or one
    of the latter alone: PostgreSQL's ``text`` and ``jsonb`` cannot hold it. (Raw
    UTF-8-encoded surrogates are refused by the strict decode.)"""
    pending_high_end = -1
    for match in _SURROGATE_ESCAPE_RE.finditer(body):
        start = preceding = match.start()
        while preceding and body[preceding - 1] == _BACKSLASH:
            preceding -= 1
        if (start - preceding) % 2:
            continue  # "\\\\ud800": an escaped backslash, then the letters "ud800"
        is_high = match.group(1) in b"89abAB"
        if pending_high_end >= 0:
            if is_high or start != pending_high_end:
                return True
            pending_high_end = -1
        elif is_high:
            pending_high_end = match.end()
        else:
            return True
    return pending_high_end >= 0


#: A ``\\u0000`` escape after an even run of backslashes (an odd one escapes its letters).
_NUL_ESCAPE_RE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul_escapes(text: str) -> str:
    """The JSON text with every NUL escape written as U+FFFD: PostgreSQL's ``jsonb`` and
    ``text`` cannot hold NUL, and refusing the event would lose it for good. Done on the
    text (a raw NUL is not valid JSON), so no walk of the decoded value, at any depth."""
    return _NUL_ESCAPE_RE.sub(r"\1\\ufffd", text)


def check_mode(event: dict[str, Any], livemode: bool) -> None:
    """Refuse events of the other mode: a test event must never act on live data."""
    if event["livemode"] is not livemode:
        theirs, ours = ("live", "test") if event["livemode"] else ("test", "live")
        raise WebhookRefused(
            f"{theirs}-mode event refused",
            f"this site runs in {ours} mode (STRIPE_PORTAL['LIVEMODE'] or the API_KEY prefix)",
        )


def redact_secrets(event: dict[str, Any]) -> None:
    """Blank the portal session URL (a bearer credential) before the payload is stored."""
    if event["type"] == "billing_portal.session.created":
        obj = event["data"]["object"]
        if obj.get("url"):
            obj["url"] = REDACTED


def text_as_stored(body: bytes, event: dict[str, Any]) -> str | None:
    """The body's text, if it is the JSON of ``event`` as parsed and redacted: a caller
    may store it as it came instead of encoding the event again. None when parsing
    replaced a NUL escape or a secret was redacted."""
    if b"\\u0000" in body:
        return None
    if event["type"] == "billing_portal.session.created" and event["data"]["object"].get("url"):
        return None
    return body.decode("utf-8")
