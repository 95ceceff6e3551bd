"""Make Stripe's portal configurations match the declarations: plan, then write.

One list pass finds every configuration; each declared key is matched by the
metadata marker (falling back to the stored ``stripe_id``); only keys that differ
cost a write, and every write carries an idempotency key so that a retried run
cannot create a second configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import stripe
from django.db import transaction
from django.utils import timezone

from django_stripe_portal.client import get_client, request_options, stripe_error_text
from django_stripe_portal.configurations.declare import definition_hash, marker_of, with_marker
from django_stripe_portal.configurations.diff import FieldChange, compare
from django_stripe_portal.configurations.feedback_options import (
    FEEDBACK_OPTIONS_EXPAND,
    feedback_options_of,
    needs_expanding,
)
from django_stripe_portal.configurations.schema import (
    update_rule,
    validate_update_params,
    wire_params,
)
from django_stripe_portal.models import PortalConfiguration

LIST_PAGE_SIZE = 100


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    PRUNE = "prune"


@dataclass
class Step:
    """What the sync does for one key."""

    key: str
    action: Action
    stripe_object: dict[str, Any] | None = None
    changes: list[FieldChange] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    declaration: dict[str, Any] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return self.action is not Action.UNCHANGED

    @property
    def stripe_id(self) -> str | None:
        return None if self.stripe_object is None else str(self.stripe_object["id"])


class SyncError(Exception):
    """A Stripe call failed part-way; says which keys were done and which were not."""

    def __init__(self, failed: Step, error: stripe.StripeError, done: list[Step], left: list[Step]):
        self.failed, self.error, self.done, self.left = failed, error, done, left
        super().__init__(
            f"Stripe refused {failed.action.value} of {failed.key!r}: {stripe_error_text(error)}"
        )


def list_configurations(
    client: stripe.StripeClient | None = None, *, account: str = ""
) -> list[dict[str, Any]]:
    """Every portal configuration of the account (``account``: a connected one, through
    ``Stripe-Account``; ``""``: the platform), all pages (100 per request), with their
    custom feedback options expanded (one retrieve for each that has some: a list
    cannot expand that deep)."""
    client = client or get_client()
    service = client.v1.billing_portal.configurations
    options = request_options(account)
    page = service.list({"limit": LIST_PAGE_SIZE}, options)
    listed = [configuration.to_dict() for configuration in page.auto_paging_iter()]
    return [
        service.retrieve(obj["id"], {"expand": [FEEDBACK_OPTIONS_EXPAND]}, options).to_dict()
        if needs_expanding(obj)
        else obj
        for obj in listed
    ]


def plan(
    declarations: Mapping[str, Mapping[str, Any]],
    existing: Iterable[Mapping[str, Any]],
    *,
    livemode: bool,
    prune: bool = False,
    only: str | None = None,
    account: str = "",
) -> list[Step]:
    """The steps that make ``existing`` (Stripe's list of ``account``) match ``declarations``."""
    listed = [dict(obj) for obj in existing]
    by_id = {str(obj["id"]): obj for obj in listed}
    stored_ids = dict(
        PortalConfiguration.objects.filter(livemode=livemode, account=account).values_list(
            "key", "stripe_id"
        )
    )
    steps: list[Step] = []
    for key, body in declarations.items():
        if only is not None and key != only:
            continue
        match = _match(key, listed, by_id.get(stored_ids.get(key) or ""))
        steps.append(_step_for(key, dict(body), match))
    if prune:
        claimed = {step.stripe_id for step in steps if step.stripe_id}
        for obj in listed:
            marker = marker_of(obj)
            if (
                marker is not None
                and marker not in declarations
                and (only is None or marker == only)
                and obj.get("active")
                and obj["id"] not in claimed
            ):
                steps.append(Step(marker, Action.PRUNE, obj, params={"active": False}))
    return steps


def duplicated_markers(existing: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Keys whose marker is on several active configurations (only one of them is synced)."""
    ids: dict[str, list[str]] = {}
    for obj in existing:
        key = marker_of(obj)
        if key is not None and obj.get("active"):
            ids.setdefault(key, []).append(str(obj["id"]))
    return {key: found for key, found in ids.items() if len(found) > 1}


def apply(
    steps: list[Step],
    *,
    livemode: bool,
    client: stripe.StripeClient | None = None,
    account: str = "",
) -> list[Step]:
    """Run the writes in order on ``account``, storing each result as soon as Stripe has it."""
    client = client or get_client()
    done: list[Step] = []
    for index, step in enumerate(steps):
        try:
            result = _write(client, step, livemode, account)
        except stripe.StripeError as error:
            raise SyncError(step, error, done, steps[index + 1 :]) from error
        _store(step, result, livemode, account)
        done.append(step)
    return done


def _match(
    key: str, existing: list[dict[str, Any]], stored: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The configuration that holds ``key``: the one marked for it, else the one whose id
    is stored for it (if no other key's marker is on it)."""
    marked = [obj for obj in existing if marker_of(obj) == key]
    if marked:
        # Should there be several (made outside this app): the stored one, else the
        # active, newest one.
        return max(
            marked,
            key=lambda obj: (
                stored is not None and obj["id"] == stored["id"],
                bool(obj.get("active")),
                obj.get("created") or 0,
            ),
        )
    if stored is not None and marker_of(stored) is None:
        return stored
    return None


def _step_for(key: str, body: dict[str, Any], match: dict[str, Any] | None) -> Step:
    if match is None:
        return Step(key, Action.CREATE, None, params=with_marker(key, body), declaration=body)
    changes = compare(body, match, key=key)
    if not changes:
        return Step(key, Action.UNCHANGED, match, declaration=body)
    return Step(
        key, Action.UPDATE, match, changes, update_params(changes, body, match), declaration=body
    )


def update_params(
    changes: list[FieldChange], declared: Mapping[str, Any], stripe_object: Mapping[str, Any]
) -> dict[str, Any]:
    """The smallest update body that applies ``changes``.

    Arrays are sent whole (Stripe replaces them), and each object sent carries the
    keys the update requires alongside the changed one (e.g. ``cancellation_reason``
    needs ``enabled``), taken from the declaration, else from Stripe's object.
    """
    params: dict[str, Any] = {}
    for change in changes:
        node = params
        for name in change.path[:-1]:
            node = node.setdefault(name, {})
        node[change.path[-1]] = change.declared_value
    _add_required(params, update_rule(), declared, stripe_object)
    problems = validate_update_params(wire_params(params, update=True))
    if problems:  # a bug in this module, not in the declaration
        raise AssertionError(f"update body Stripe would refuse: {problems}")
    return params


def _add_required(params: dict[str, Any], rule: Any, declared: Any, actual: Any) -> None:
    declared = declared if isinstance(declared, Mapping) else {}
    actual = actual if isinstance(actual, Mapping) else {}
    for name in rule.required:
        if name not in params:
            params[name] = declared[name] if name in declared else actual.get(name)
    for name, value in params.items():
        child = rule.fields.get(name)
        if isinstance(value, dict) and child is not None and child.kind == "object":
            _add_required(value, child, declared.get(name), actual.get(name))


def _write(client: stripe.StripeClient, step: Step, livemode: bool, account: str) -> dict[str, Any]:
    service = client.v1.billing_portal.configurations
    options: Any = request_options(
        account, idempotency_key=_idempotency_key(step, livemode, account)
    )
    params = wire_params(step.params, update=step.action is not Action.CREATE)
    if feedback_options_of(step.declaration) or (
        step.stripe_object is not None and feedback_options_of(step.stripe_object)
    ):
        # The stored answer then holds the options' descriptions for the reports.
        params["expand"] = [FEEDBACK_OPTIONS_EXPAND]
    if step.action is Action.CREATE:
        created = service.create(params, options)  # type: ignore[arg-type]
        return created.to_dict()
    assert step.stripe_id is not None
    updated = service.update(step.stripe_id, params, options)  # type: ignore[arg-type]
    return updated.to_dict()


def _idempotency_key(step: Step, livemode: bool, account: str = "") -> str:
    """Same run retried → same key (Stripe replays the first answer, no duplicate);
    a new declaration, or Stripe's object changed since (``updated``) → a new key.
    Each account has its own keys: the same declaration created on two accounts is two
    requests, not one replayed."""
    observed = (
        ""
        if step.stripe_object is None
        else f"{step.stripe_id}@{step.stripe_object.get('updated')}"
    )
    parts = [step.action.value, step.key, "live" if livemode else "test", observed]
    if account:
        parts.append(account)
    parts.append(definition_hash(step.params))
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"django-stripe-portal-{step.action.value}-{digest[:48]}"


def store_unchanged(steps: Iterable[Step], *, livemode: bool, account: str = "") -> None:
    """Refresh the stored copy for keys that needed no write (no API call)."""
    for step in steps:
        if step.action is Action.UNCHANGED and step.stripe_object is not None:
            _store(step, step.stripe_object, livemode, account)


def _store(step: Step, stripe_object: dict[str, Any], livemode: bool, account: str) -> None:
    """Record what Stripe now holds for this key, in this mode and on this account only."""
    values = {
        "stripe_id": stripe_object["id"],
        "stripe_data": stripe_object,
        "active": bool(stripe_object.get("active")),
        "is_default": bool(stripe_object.get("is_default")),
        "synced_at": timezone.now(),
    }
    with transaction.atomic():
        if step.action is Action.PRUNE:
            PortalConfiguration.objects.filter(
                stripe_id=stripe_object["id"], livemode=livemode, account=account
            ).update(**values)
            return
        values["definition_hash"] = definition_hash(step.declaration)
        rows = PortalConfiguration.objects.select_for_update().filter(account=account)
        row = rows.filter(key=step.key, livemode=livemode).first()
        holder = rows.filter(stripe_id=stripe_object["id"]).exclude(key=step.key).first()
        if holder is not None:
            # Another key's row still names this configuration (a renamed key): that row
            # becomes this key's, so PortalSession links to it are kept.
            if row is not None:
                row.delete()
            row = holder
            row.key, row.livemode = step.key, livemode
        if row is None:
            row = PortalConfiguration(key=step.key, livemode=livemode, account=account)
        for name, value in values.items():
            setattr(row, name, value)
        row.save()


__all__ = [
    "Action",
    "Step",
    "SyncError",
    "apply",
    "duplicated_markers",
    "list_configurations",
    "plan",
    "store_unchanged",
    "update_params",
]
