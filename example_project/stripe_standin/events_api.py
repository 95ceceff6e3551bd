"""``GET /v1/events`` of the stand-in: the events it created, listed as Stripe lists them.

Newest first, in pages (``limit``, ``starting_after``), filtered by ``created``
(``gt``/``gte``/``lt``/``lte`` or an exact second), ``type`` (a ``*`` wildcard
allowed) or ``types`` (up to 20 names; not both) and ``delivery_success``. An event
counts as delivered once the stand-in's webhook sender got a 2xx for it
(``mark_delivered``; ``pending_webhooks`` drops to 0), so ``manage.py
fetch_stripe_events --undelivered`` finds what the demo site missed while it was down.
"""

from __future__ import annotations

import copy
import fnmatch
from typing import Any

from stripe_standin import objects
from stripe_standin.accounts import acting_account
from stripe_standin.forms import as_int, typed
from stripe_standin.state import StandinError, StandinState

_PARAMS = {
    "created",
    "delivery_success",
    "ending_before",
    "expand",
    "limit",
    "starting_after",
    "type",
    "types",
}
_BOUNDS = {
    "gt": lambda created, bound: created > bound,
    "gte": lambda created, bound: created >= bound,
    "lt": lambda created, bound: created < bound,
    "lte": lambda created, bound: created <= bound,
}


def mark_delivered(state: StandinState, event_id: str) -> None:
    """The webhook endpoint answered 2xx for ``event_id``."""
    with state.changing():
        kept = state.data["events"].get(event_id)
        if kept is not None:
            kept["pending_webhooks"] = 0


def list_events(state: StandinState, params: dict[str, Any]) -> dict[str, Any]:
    """The list object ``GET /v1/events`` answers; raises ``StandinError`` as Stripe refuses."""
    for name in sorted(set(params) - _PARAMS):
        raise StandinError(
            f"Received unknown parameter: {name}", code="parameter_unknown", param=name
        )
    types = params.get("types")
    if types is not None and not isinstance(types, list):
        raise StandinError("Invalid array", code="parameter_invalid_array", param="types")
    if types and len(types) > 20:
        raise StandinError(
            "types: at most 20 event names.", code="parameter_invalid_array", param="types"
        )
    if types and params.get("type"):
        raise StandinError("You may pass either `type` or `types`, but not both.", param="types")
    with state.lock:
        # Newest first; of two events in one second, the later one first.
        # The acting account's own events only (Stripe-Account), as on Stripe.
        rows = [
            copy.deepcopy(event)
            for event in reversed(state.data["events"].values())
            if state.account_of(event["id"]) == acting_account()
        ]
    rows.sort(key=lambda event: int(event.get("created", 0)), reverse=True)
    rows = [row for row in rows if _matches(row, params, types)]
    limit = min(max(as_int(params.get("limit"), 10), 1), 100)
    after = params.get("starting_after")
    if after:
        ids = [row["id"] for row in rows]
        if after not in ids:
            raise StandinError(
                f"No such event: '{after}'", code="resource_missing", param="starting_after"
            )
        rows = rows[ids.index(after) + 1 :]
    return objects.stripe_list("/v1/events", rows[:limit], has_more=len(rows) > limit)


def _matches(event: dict[str, Any], params: dict[str, Any], types: list[str] | None) -> bool:
    created = params.get("created")
    when = int(event.get("created", 0))
    if isinstance(created, dict):
        for name, bound in created.items():
            if name not in _BOUNDS:
                raise StandinError(
                    f"Received unknown parameter: created[{name}]",
                    code="parameter_unknown",
                    param=f"created[{name}]",
                )
            if not _BOUNDS[name](when, as_int(bound, 0)):
                return False
    elif created is not None and when != as_int(created, -1):
        return False
    if types and event["type"] not in types:
        return False
    if params.get("type") and not fnmatch.fnmatchcase(event["type"], str(params["type"])):
        return False
    delivery_success = typed(params.get("delivery_success"))
    if delivery_success is not None:
        delivered = int(event.get("pending_webhooks") or 0) == 0
        if delivered is not delivery_success:
            return False
    return True
