"""The payload values a figure or a page reads, kept in ``WebhookEvent`` columns so that a
pruned payload changes no figure.

At ingest they are set on the row before its one INSERT (no extra statement); rows stored
before the columns existed are filled by :func:`backfill_payload_columns` (migration 0009),
in batches by primary key: memory stays flat and no lock outlives a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model

BATCH_SIZE = 2000

#: The columns this module fills.
PAYLOAD_COLUMNS = ("cancel_feedback", "cancel_feedback_option", "cancel_feedback_option_label")


def _id_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def column_values(cancellation_details: dict[str, Any] | None) -> dict[str, str]:
    """The columns' values for one event, from its object's ``cancellation_details`` as
    Stripe sent it (a custom option as its id, or expanded with its ``description``)."""
    details = cancellation_details if isinstance(cancellation_details, dict) else {}
    feedback = details.get("feedback")
    option = details.get("feedback_option")
    label = option.get("description") if isinstance(option, dict) else None
    return {
        "cancel_feedback": feedback[:50] if isinstance(feedback, str) else "",
        "cancel_feedback_option": _id_of(option)[:255],
        "cancel_feedback_option_label": label[:255] if isinstance(label, str) else "",
    }


def event_column_values(event: dict[str, Any]) -> dict[str, str]:
    """:func:`column_values` of an event's ``data.object``."""
    obj = (event.get("data") or {}).get("object")
    return column_values(obj.get("cancellation_details") if isinstance(obj, dict) else None)


def set_payload_columns(row: Any, event: dict[str, Any]) -> None:
    """Set the columns on an unsaved (or about to be saved) row."""
    for name, value in event_column_values(event).items():
        setattr(row, name, value)


def backfill_payload_columns(
    event_model: type[Model],
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fill the columns of every stored change event (``change_kind`` set: the only rows a
    figure or page reads them on) from its payload; returns how many rows changed. The
    model is passed in so that a migration can use its own."""
    events: Any = event_model._default_manager
    last_pk, changed = 0, 0
    while True:
        batch = list(
            events.filter(pk__gt=last_pk)
            .exclude(change_kind="")
            .order_by("pk")
            .values_list("pk", "payload")[:batch_size]
        )
        if not batch:
            return changed
        last_pk = batch[-1][0]
        updates = []
        for pk, payload in batch:
            values = event_column_values(payload if isinstance(payload, dict) else {})
            if any(values.values()):
                updates.append(event_model(pk=pk, **values))
        if updates:
            events.bulk_update(updates, list(PAYLOAD_COLUMNS))
            changed += len(updates)
        if progress is not None:
            progress(changed)
