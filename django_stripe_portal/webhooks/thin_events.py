"""A thin event (an event destination's notification, its event fetched from
``GET /v2/core/events/{id}``) in the shape every other door hands to ``accept_event``.

Pure: no database, no Stripe call. The snapshot-shaped event this builds carries:

- the id of the snapshot event of the same action (``snapshot_event``) when Stripe names
  one, else the thin event's own: while a snapshot endpoint and a thin destination both
  deliver, the same change reaches the store-once insert under one id, whichever door it
  came through first;
- the snapshot twin's type (``v1.customer.subscription.updated`` →
  ``customer.subscription.updated``; a granular subscription type → the update it is an
  aspect of), so receivers of ``on("customer.subscription.updated")`` hear both doors;
- ``data.object``: the related object as fetched, with the fields ``changes.after`` holds
  set to those values (the object as this event left it, not as later events left it);
- ``data.previous_attributes``: ``changes.before`` (or what the caller read elsewhere);
- ``thin_event``: the thin event's own id, type, ``snapshot_event`` and ``context``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django_stripe_portal.events import THIN_SUBSCRIPTION_ASPECTS, THIN_V1_PREFIX

#: The key of the snapshot-shaped event that keeps what the thin event said of itself.
THIN_EVENT_KEY = "thin_event"
SUBSCRIPTION_UPDATED = "customer.subscription.updated"


def snapshot_twin(thin_type: str) -> str | None:
    """The snapshot event type a thin type stands for (None: it stands for none, e.g. the
    ``v2.*`` types, which have no snapshot version)."""
    if thin_type in THIN_SUBSCRIPTION_ASPECTS:
        return SUBSCRIPTION_UPDATED
    if thin_type.startswith(THIN_V1_PREFIX) and len(thin_type) > len(THIN_V1_PREFIX):
        return thin_type[len(THIN_V1_PREFIX) :]
    return None


def unix_time(rfc3339: str) -> int:
    """A v2 timestamp (``2026-12-05T20:31:30.000Z``) as the Unix time v1 events carry;
    raises ``ValueError`` for anything else."""
    moment = datetime.fromisoformat(rfc3339)
    if moment.tzinfo is None:
        raise ValueError(f"{rfc3339!r} has no time zone")
    return int(moment.timestamp())


def account_of_context(context: str | None) -> str:
    """The connected account a ``Stripe-Context`` names (its last ``acct_…`` segment), or
    ``""``: the event happened on the platform."""
    segments = (context or "").split("/")
    return segments[-1] if segments[-1].startswith("acct_") else ""


def changes_of(v2_event: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``changes.before`` and ``changes.after`` (None where Stripe sent none)."""
    changes = v2_event.get("changes")
    if not isinstance(changes, dict):
        return None, None
    before, after = changes.get("before"), changes.get("after")
    return (
        before if isinstance(before, dict) else None,
        after if isinstance(after, dict) else None,
    )


def thin_as_snapshot(
    v2_event: dict[str, Any],
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    *,
    twin: str,
    api_version: str,
) -> dict[str, Any]:
    """The snapshot-shaped event of ``v2_event`` whose related object is ``obj`` (already
    overlaid with ``changes.after``) and whose previous values are ``previous``."""
    data: dict[str, Any] = {"object": obj}
    if previous:
        data["previous_attributes"] = previous
    reason = v2_event.get("reason")
    request = reason.get("request") if isinstance(reason, dict) else None
    event: dict[str, Any] = {
        "id": str(v2_event.get("snapshot_event") or v2_event["id"]),
        "object": "event",
        "api_version": api_version,
        "created": unix_time(str(v2_event["created"])),
        "data": data,
        "livemode": v2_event["livemode"],
        "pending_webhooks": 0,
        "request": {
            "id": request.get("id") if isinstance(request, dict) else None,
            "idempotency_key": request.get("idempotency_key")
            if isinstance(request, dict)
            else None,
        },
        "type": twin,
        THIN_EVENT_KEY: {
            "id": v2_event["id"],
            "type": v2_event["type"],
            "snapshot_event": v2_event.get("snapshot_event"),
            "context": v2_event.get("context"),
        },
    }
    account = account_of_context(v2_event.get("context"))
    if account:
        event["account"] = account
    return event


def with_changes_applied(obj: dict[str, Any], after: dict[str, Any] | None) -> dict[str, Any]:
    """``obj`` with the top-level fields of ``changes.after`` set to their values there."""
    return {**obj, **after} if after else obj


def thin_type_of(event: dict[str, Any]) -> str:
    """The thin type a snapshot-shaped event was built from (``""``: a snapshot event)."""
    thin = event.get(THIN_EVENT_KEY)
    return str(thin.get("type") or "") if isinstance(thin, dict) else ""
