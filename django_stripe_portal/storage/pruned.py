"""The payload a pruned event keeps: a marker, so replay and the admin can say why it is empty."""

from __future__ import annotations

from typing import Any

#: What ``prune_stripe_events`` writes over a payload. Small, and valid JSON on every database.
PRUNED_PAYLOAD: dict[str, Any] = {"pruned": True}


def is_pruned(payload: Any) -> bool:
    """Whether the stored payload was emptied by ``prune_stripe_events``."""
    return isinstance(payload, dict) and payload.get("pruned") is True and "data" not in payload
