"""Fill the run rate of subscriptions stored before the app kept it, from the newest
stored payload of each (never from the network).

Batches of subscriptions by primary key, each in its own short statements (no long
lock, memory flat whatever the table's size): the batch's rows, the ids and times of
their customers' subscription events (through the ``customer_id`` index), the newest
payload of each subscription, then one bulk UPDATE. Used by migration ``0006`` and by
``manage.py backfill_run_rate`` (safe to run again: it fills only empty rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from django.db.models.fields.json import KT

from django_stripe_portal.events import SUBSCRIPTION_EVENTS
from django_stripe_portal.webhooks.discount_terms import DiscountTerms
from django_stripe_portal.webhooks.run_rate import (
    NOT_PAYING_STATUSES,
    discounts_carried,
    monthly_amount,
    needed_discounts,
    run_rate_basis,
)

BATCH_SIZE = 1000


@dataclass(frozen=True)
class BackfillResult:
    filled: int
    #: No stored payload, or one the figure cannot be read from (a price sent as an id,
    #: a tiered price without its tiers, a discount whose coupon is unknown).
    not_filled: int


def backfill_run_rates(
    subscription_model: type[Model],
    event_model: type[Model],
    discount_model: type[Model] | None = None,
    *,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Fill ``currency``, ``monthly_amount`` and ``run_rate_basis`` of every subscription
    whose basis is empty. Models are passed in so that a migration can use its own."""
    subscriptions: Any = subscription_model._default_manager
    events: Any = event_model._default_manager
    size = batch_size or BATCH_SIZE
    last_pk, filled, not_filled = 0, 0, 0
    while True:
        batch = list(
            subscriptions.filter(pk__gt=last_pk, run_rate_basis__isnull=True)
            .order_by("pk")
            .values("pk", "stripe_id", "customer_id", "status")[:size]
        )
        if not batch:
            break
        last_pk = batch[-1]["pk"]
        newest: dict[str, tuple[Any, int, str]] = {}
        wanted = {row["stripe_id"] for row in batch}
        for pk, object_id, created_at, event_type in (
            events.filter(
                customer_id__in={row["customer_id"] for row in batch},
                type__in=SUBSCRIPTION_EVENTS,
            )
            .annotate(object_id=KT("payload__data__object__id"))
            .values_list("pk", "object_id", "created_at", "type")
        ):
            if object_id in wanted:
                known = newest.get(object_id)
                if known is None or (created_at, pk) > (known[0], known[1]):
                    newest[object_id] = (created_at, pk, event_type)
        payloads = dict(
            events.filter(pk__in=[pk for _, pk, _ in newest.values()]).values_list("pk", "payload")
        )
        figures = _figures(batch, newest, payloads, discount_model)
        updated = []
        for row in batch:
            found = figures.get(row["stripe_id"])
            if found is None or found[1] is None:
                not_filled += 1
            else:
                filled += 1
            if found is not None:
                instance = subscription_model(pk=row["pk"])
                instance.currency, instance.monthly_amount, instance.run_rate_basis = found  # type: ignore[attr-defined]
                updated.append(instance)
        if updated:
            subscriptions.bulk_update(updated, ["currency", "monthly_amount", "run_rate_basis"])
        if progress is not None:
            progress(filled, not_filled)
    return BackfillResult(filled, not_filled)


def _figures(
    batch: list[dict[str, Any]],
    newest: dict[str, tuple[Any, int, str]],
    payloads: dict[int, Any],
    discount_model: type[Model] | None,
) -> dict[str, tuple[str, int | None, dict[str, Any]]]:
    read: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = {}
    for row in batch:
        found = newest.get(row["stripe_id"])
        payload = payloads.get(found[1]) if found else None
        obj = ((payload or {}).get("data") or {}).get("object") if found else None
        if not isinstance(obj, dict):
            continue
        try:
            basis = run_rate_basis(obj)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
            continue
        if row["status"] in NOT_PAYING_STATUSES:
            basis["live"] = False
        read[row["stripe_id"]] = (obj, int((payload or {}).get("created") or 0), basis)
    stored: dict[str, DiscountTerms] = {}
    ids = {i for _, _, basis in read.values() for i in needed_discounts(basis)}
    if ids and discount_model is not None:
        manager: Any = discount_model._default_manager
        for stripe_id, terms in manager.filter(stripe_id__in=ids, deleted=False).values_list(
            "stripe_id", "terms"
        ):
            if terms:
                stored[stripe_id] = DiscountTerms.from_dict(terms)
    out = {}
    for stripe_id, (obj, at, basis) in read.items():
        try:
            terms = {**stored, **discounts_carried(obj)}
            amount = monthly_amount(basis, terms, at=at)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
            amount = None
        out[stripe_id] = (str(basis["currency"])[:3], amount, basis)
    return out
