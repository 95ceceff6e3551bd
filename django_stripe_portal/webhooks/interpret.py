"""The domain meaning of one event, read from ``data.object`` and
``data.previous_attributes`` alone: no database, no Stripe call.

Fields absent from ``previous_attributes`` did not change, so their previous value
is the current one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django_stripe_portal.events import (
    DISCOUNT_EVENTS,
    ENTITLEMENT_EVENTS,
    SUBSCRIPTION_EVENTS,
    THIN_SUBSCRIPTION_ASPECTS,
    ChangeKind,
)
from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.webhooks.payload import (
    cancellation_details_of,
    customer_account_of,
    customer_of,
    discount_coupon_of,
    id_of,
    listed_lookup_keys,
    pause_collection_of,
    stripe_time,
    subscription_items,
    subscription_values,
    summary_customer,
)
from django_stripe_portal.webhooks.thin_events import thin_type_of

#: ``customer.updated`` fields that count as the customer's details (the portal's
#: ``customer_update.allowed_updates`` plus what Stripe derives from them).
CUSTOMER_DETAIL_FIELDS = ("address", "email", "name", "phone", "shipping", "tax_exempt")

_CHANGE_KIND_ORDER = list(ChangeKind)
_MISSING: Any = object()


@dataclass
class Interpretation:
    """What an event changed for the customer; ``dispatch`` turns it into signals."""

    customer_id: str = ""
    kinds: set[ChangeKind] = field(default_factory=set)
    #: Status forced on the stored subscription (``customer.subscription.deleted``).
    subscription_status: str | None = None
    previous_prices: list[str] = field(default_factory=list)
    new_prices: list[str] = field(default_factory=list)
    previous_quantity: int = 0
    new_quantity: int = 0
    cancellation_details: dict[str, Any] = field(default_factory=dict)
    #: ``previous_attributes`` of a details change (empty for ``customer.tax_id.*``).
    previous_attributes: dict[str, Any] = field(default_factory=dict)
    #: When a paused subscription resumes collecting (``pause_collection.resumes_at``);
    #: None for an open-ended pause, a ``paused`` status and every resume.
    resumes_at: datetime | None = None
    #: ``customer.discount.created`` on a subscription: the coupon and the subscription.
    #: It is a retention offer accepted only if the visit it is linked to offered that
    #: coupon (the linking looks for such a visit; ``dispatch`` checks the rest).
    retention_coupon: str = ""
    discount_subscription: str = ""
    #: Terms of the discounts a subscription payload names by id only, as the app stored
    #: them (``webhooks.money``; the row write computes the run rate with them).
    known_discounts: dict[str, Any] = field(default_factory=dict)
    #: The subscription's ``currency``, ``monthly_amount`` and ``run_rate_basis`` as
    #: ``webhooks.money`` computed them for the event row (None: not computed).
    run_rate: dict[str, Any] | None = None
    #: The event as the JSON text it was read from, when that text stands for it exactly
    #: (``parse.json_text_of``; None: the payload column encodes the dict).
    payload_json: str | None = field(default=None, repr=False, compare=False)
    #: A subscription payload's ``StripeSubscription`` fields (run rate aside), as
    #: :func:`understand_event` read them to check them: the row write reads them once.
    subscription_fields: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def change_kind(self) -> str:
        """The first kind of ``ChangeKind``'s order that applies, or ``""``."""
        for kind in _CHANGE_KIND_ORDER:
            if kind in self.kinds:
                return kind.value
        return ""


def _cancel_scheduled(cancel_at_period_end: Any, cancel_at: Any) -> bool:
    return bool(cancel_at_period_end) or cancel_at is not None


def _prices_and_quantity(items: list[dict[str, Any]]) -> tuple[list[str], int]:
    return [item["price"] for item in items], sum(int(item["quantity"] or 0) for item in items)


def _previous_items(obj: dict[str, Any], previous: dict[str, Any]) -> tuple[list[str], int] | None:
    """Previous prices and total quantity, or None when neither changed.

    ``items`` is the current shape; ``plan``/``quantity`` the pre-2018 single-plan shape.
    """
    if isinstance(previous.get("items"), dict):
        return _prices_and_quantity(subscription_items({"items": previous["items"]}))
    if "plan" in previous or "quantity" in previous:
        prices, quantity = _prices_and_quantity(subscription_items(obj))
        if "plan" in previous:
            prices = [id_of(previous["plan"])] if previous["plan"] else []
        if "quantity" in previous:
            quantity = int(previous["quantity"] or 0)
        return prices, quantity
    return None


def _interpret_subscription(
    event_type: str, obj: dict[str, Any], previous: dict[str, Any], meaning: Interpretation
) -> None:
    meaning.cancellation_details = cancellation_details_of(obj)
    if event_type == "customer.subscription.deleted":
        meaning.subscription_status = "canceled"
        meaning.kinds.add(ChangeKind.CANCELED)
    elif event_type == "customer.subscription.paused":
        meaning.kinds.add(ChangeKind.PAUSED)
        meaning.resumes_at = _resumes_at(obj)
    elif event_type == "customer.subscription.resumed":
        meaning.kinds.add(ChangeKind.RESUMED)
    if event_type != "customer.subscription.updated":
        return

    # The other form of a pause: collection paused while the status stays ``active``.
    # (A ``paused`` status comes with its own event type, handled above.)
    if "pause_collection" in previous:
        was_paused = isinstance(previous["pause_collection"], dict)
        now_paused = pause_collection_of(obj) is not None
        if now_paused and not was_paused:
            meaning.kinds.add(ChangeKind.PAUSED)
            meaning.resumes_at = _resumes_at(obj)
        elif was_paused and not now_paused:
            meaning.kinds.add(ChangeKind.RESUMED)

    now_scheduled = _cancel_scheduled(obj.get("cancel_at_period_end"), obj.get("cancel_at"))
    was_scheduled = _cancel_scheduled(
        previous.get("cancel_at_period_end", obj.get("cancel_at_period_end")),
        previous.get("cancel_at", obj.get("cancel_at")),
    )
    if now_scheduled and not was_scheduled:
        meaning.kinds.add(ChangeKind.CANCEL_SCHEDULED)
    elif was_scheduled and not now_scheduled and obj.get("status") != "canceled":
        meaning.kinds.add(ChangeKind.REACTIVATED)

    before = _previous_items(obj, previous)
    if before is not None:
        meaning.previous_prices, meaning.previous_quantity = before
        meaning.new_prices, meaning.new_quantity = _prices_and_quantity(subscription_items(obj))
        if sorted(meaning.previous_prices) != sorted(meaning.new_prices):
            meaning.kinds.add(ChangeKind.PLAN_CHANGED)
        if meaning.previous_quantity != meaning.new_quantity:
            meaning.kinds.add(ChangeKind.QUANTITY_CHANGED)


def _interpret_thin_aspect(thin_type: str, obj: dict[str, Any], meaning: Interpretation) -> None:
    """A granular thin subscription type says itself what changed, when neither
    ``changes`` nor a stored row did (``webhooks/thin_events.py``)."""
    kind = THIN_SUBSCRIPTION_ASPECTS.get(thin_type)
    if kind is None or kind in meaning.kinds:
        return
    if kind is ChangeKind.CANCEL_SCHEDULED:
        if ChangeKind.REACTIVATED in meaning.kinds:
            return
        if _cancel_scheduled(obj.get("cancel_at_period_end"), obj.get("cancel_at")):
            meaning.kinds.add(ChangeKind.CANCEL_SCHEDULED)
        elif obj.get("status") != "canceled":
            meaning.kinds.add(ChangeKind.REACTIVATED)
        return
    if not meaning.new_prices:
        meaning.new_prices, meaning.new_quantity = _prices_and_quantity(subscription_items(obj))
    meaning.kinds.add(kind)


def _resumes_at(obj: dict[str, Any]) -> datetime | None:
    pause = pause_collection_of(obj)
    return stripe_time(pause["resumes_at"]) if pause is not None else None


def _interpret_discount(event_type: str, obj: dict[str, Any], meaning: Interpretation) -> None:
    meaning.customer_id = id_of(obj.get("customer"))
    coupon = discount_coupon_of(obj)[:255]
    subscription = id_of(obj.get("subscription"))[:255]
    if event_type == "customer.discount.created" and coupon and subscription:
        meaning.kinds.add(ChangeKind.RETENTION_ACCEPTED)
        meaning.retention_coupon = coupon
        meaning.discount_subscription = subscription


def _default_payment_method_changed(obj: dict[str, Any], previous: dict[str, Any]) -> bool:
    previous_settings = previous.get("invoice_settings")
    if isinstance(previous_settings, dict):
        before = previous_settings.get("default_payment_method", _MISSING)
        if before is not _MISSING:
            now = (obj.get("invoice_settings") or {}).get("default_payment_method")
            if id_of(before) != id_of(now):
                return True
    return "default_source" in previous and id_of(previous["default_source"]) != id_of(
        obj.get("default_source")
    )


_STATEFUL_TYPES = (
    *SUBSCRIPTION_EVENTS,
    "billing_portal.session.created",
    "billing_portal.configuration.created",
    "billing_portal.configuration.updated",
)


def understand_event(event: dict[str, Any]) -> Interpretation:
    """:func:`interpret_event`, refusing (400) a payload whose object the app cannot read.

    Stripe never sends one; a signed body that is not shaped like Stripe's must still
    not become a 500 that Stripe retries forever.
    """
    try:
        meaning = interpret_event(event)
        if event["type"] in _STATEFUL_TYPES:
            obj = event["data"]["object"]
            if not isinstance(obj.get("id"), str) or not 0 < len(obj["id"]) <= 255:
                raise ValueError("data.object.id is not an id")
            if event["type"] in SUBSCRIPTION_EVENTS:
                values = subscription_values(obj, run_rate=False)
                if len(values["status"]) > 30 or len(values["customer_id"]) > 255:
                    raise ValueError("status or customer is not Stripe's")
                meaning.subscription_fields = values
            elif event["type"] == "billing_portal.session.created":
                stripe_time(obj.get("created"))
                if len(customer_of(obj)) > 255:
                    raise ValueError("customer is not Stripe's")
            if len(customer_account_of(obj)) > 255:
                raise ValueError("customer_account is not Stripe's")
        elif event["type"] in ENTITLEMENT_EVENTS:
            obj = event["data"]["object"]
            summary_customer(obj)
            listed_lookup_keys(obj)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, OSError) as exc:
        raise WebhookRefused(
            "event payload not understood", f"{type(exc).__name__}: {exc}"
        ) from None
    meaning.customer_id = meaning.customer_id[:255]
    return meaning


def interpret_event(event: dict[str, Any]) -> Interpretation:
    """Read one verified event (already checked by ``parse_event``)."""
    event_type: str = event["type"]
    data = event["data"]
    obj: dict[str, Any] = data["object"]
    previous: dict[str, Any] = data.get("previous_attributes") or {}
    meaning = Interpretation()

    if event_type in SUBSCRIPTION_EVENTS:
        meaning.customer_id = customer_of(obj)
        _interpret_subscription(event_type, obj, previous, meaning)
        _interpret_thin_aspect(thin_type_of(event), obj, meaning)
    elif event_type == "customer.updated":
        meaning.customer_id = id_of(obj.get("id"))
        if _default_payment_method_changed(obj, previous):
            meaning.kinds.add(ChangeKind.PAYMENT_METHOD_CHANGED)
        if any(name in previous for name in CUSTOMER_DETAIL_FIELDS):
            meaning.kinds.add(ChangeKind.CUSTOMER_DETAILS_CHANGED)
            meaning.previous_attributes = previous
    elif event_type.startswith("customer.tax_id."):
        meaning.customer_id = _tax_id_customer(obj)
        meaning.kinds.add(ChangeKind.CUSTOMER_DETAILS_CHANGED)
        meaning.previous_attributes = previous
    elif event_type in ("payment_method.attached", "payment_method.detached"):
        # A detached method no longer names its customer; the previous value does.
        meaning.customer_id = id_of(obj.get("customer") or previous.get("customer"))
        meaning.kinds.add(ChangeKind.PAYMENT_METHOD_CHANGED)
    elif event_type in DISCOUNT_EVENTS:
        _interpret_discount(event_type, obj, meaning)
    elif event_type == "billing_portal.session.created":
        meaning.customer_id = customer_of(obj)
    elif event_type in ENTITLEMENT_EVENTS:
        meaning.customer_id = id_of(obj.get("customer"))
    meaning.customer_id = meaning.customer_id[:255]
    if not meaning.customer_id:
        # A change of nobody's details: the account's own tax id, a detached method whose
        # customer the payload does not name. Its signals would carry an empty customer id.
        meaning.kinds -= _CUSTOMER_KINDS
        meaning.previous_attributes = {}
    return meaning


#: Kinds whose signals name the customer (``customer_id``), and mean nothing without one.
_CUSTOMER_KINDS = {ChangeKind.PAYMENT_METHOD_CHANGED, ChangeKind.CUSTOMER_DETAILS_CHANGED}


def _tax_id_customer(obj: dict[str, Any]) -> str:
    """The customer a tax id belongs to; ``""`` for one whose ``owner`` is not a customer
    (``self``: the account's own tax id; ``account``, ``application``)."""
    owner = obj.get("owner")
    if isinstance(owner, dict):
        if owner.get("type") not in (None, "customer"):
            return ""
        return id_of(obj.get("customer") or owner.get("customer"))
    return id_of(obj.get("customer"))
