"""Words for Stripe's identifiers, where people read them.

Pages show ``too expensive`` and ``card update``, not ``too_expensive`` and
``payment_method_update``; the identifiers stay in the data, the JSON and the places
developers look (``title`` attributes, the raw payload). Every label is translatable.
A value Stripe adds later (its enums are open) is shown as it comes, underscores
turned into spaces, rather than hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.events import ChangeKind

#: ``cancellation_details.feedback``: what the customer picked in the portal's
#: cancellation reasons (Stripe's enum).
FEEDBACK_LABELS: Mapping[str, Promise] = {
    "customer_service": _("customer service"),
    "low_quality": _("quality not as expected"),
    "missing_features": _("missing features"),
    "other": _("other"),
    "switched_service": _("switched to another service"),
    "too_complex": _("too complex"),
    "too_expensive": _("too expensive"),
    "unused": _("not used enough"),
}

#: ``cancellation_details.reason``: why the subscription was canceled (Stripe's enum).
CANCELLATION_REASON_LABELS: Mapping[str, Promise] = {
    "cancellation_requested": _("the customer asked to cancel"),
    "canceled_by_retention_policy": _("canceled by the retention policy"),
    "payment_disputed": _("a payment was disputed"),
    "payment_failed": _("a payment failed"),
}

#: ``flow_data.type`` of a portal session; ``""`` is a visit to the portal's home page.
FLOW_LABELS: Mapping[str, Promise] = {
    "": _("portal home"),
    "payment_method_update": _("card update"),
    "customer_update": _("details update"),
    "subscription_cancel": _("cancellation"),
    "subscription_pause": _("pause"),
    "subscription_update": _("plan change"),
    "subscription_update_confirm": _("plan change (confirm)"),
}

#: A subscription's ``status``.
STATUS_LABELS: Mapping[str, Promise] = {
    "active": _("active"),
    "trialing": _("trialing"),
    "past_due": _("past due"),
    "unpaid": _("unpaid"),
    "paused": _("paused"),
    "incomplete": _("incomplete"),
    "incomplete_expired": _("incomplete, expired"),
    "canceled": _("canceled"),
}

#: The change kinds that are cancellations: the only ones a feedback belongs to.
CANCELLATION_KINDS = (ChangeKind.CANCELED.value, ChangeKind.CANCEL_SCHEDULED.value)


def _label(labels: Mapping[str, Promise], value: object) -> str:
    text = "" if value is None else str(value)
    if text in labels:
        return str(labels[text])
    return text.replace("_", " ")


def feedback_label(value: object) -> str:
    """``too_expensive`` → "too expensive"; ``""``/``None`` → ``""``."""
    return _label(FEEDBACK_LABELS, value) if value else ""


def cancellation_reason_label(value: object) -> str:
    return _label(CANCELLATION_REASON_LABELS, value) if value else ""


def flow_label(value: object) -> str:
    """``subscription_update`` → "plan change"; no flow → "portal home"."""
    return _label(FLOW_LABELS, value or "")


def status_label(value: object) -> str:
    return _label(STATUS_LABELS, value)


def change_kind_label(value: object) -> str:
    """A ``WebhookEvent.change_kind`` in words (``""``: no change, no label)."""
    if not value:
        return ""
    try:
        return str(ChangeKind(str(value)).label)
    except ValueError:
        return str(value).replace("_", " ")


def distinct_change_labels(kinds: Iterable[object]) -> list[str]:
    """The words for each kind of change, once each, in the order first made: one card
    update sends ``customer.updated`` and ``payment_method.attached``, which is one
    "payment method changed" to the person reading."""
    seen: list[str] = []
    for kind in kinds:
        label = change_kind_label(kind)
        if label and label not in seen:
            seen.append(label)
    return seen
