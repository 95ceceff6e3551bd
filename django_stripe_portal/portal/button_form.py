"""The optional form fields of the portal button, checked and turned into Stripe params.

Everything here is about what the user asked for (``flow``, ``subscription``,
``price``, ``locale``, ``after``, ``confirmation_message``); who the customer is, and
any retention offer (``portal.retention``), never come from the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from django_stripe_portal.exceptions import PortalRequestError
from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.state.customers import belongs_to
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

#: Stripe's ``flow_data.type`` values (POST /v1/billing_portal/sessions).
FLOW_TYPES = (
    "payment_method_update",
    "customer_update",
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
)
#: The flows that act on one subscription, named by the ``subscription`` field.
SUBSCRIPTION_FLOWS = (
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
)
#: The ``locale`` enum of POST /v1/billing_portal/sessions (checked against the spec in tests).
LOCALES = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)  # fmt: skip

#: The button's ``after`` values → Stripe's ``flow_data.after_completion.type``.
AFTER_COMPLETION_TYPES = {
    "redirect": "redirect",
    "confirmation": "hosted_confirmation",
    "portal": "portal_homepage",
}
#: ``maxLength`` of ``flow_data.after_completion.hosted_confirmation.custom_message``
#: (POST /v1/billing_portal/sessions; checked against the spec in tests).
CONFIRMATION_MESSAGE_MAX_LENGTH = 500

_SUBSCRIPTION_ID_RE = re.compile(r"sub_[A-Za-z0-9]{1,250}")
# Prices are price_…; legacy plans (usable as prices) may carry custom ids.
_PRICE_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,250}")


@dataclass(frozen=True)
class PortalFlow:
    """What the form asked for, checked: the ``flow_data`` and ``locale`` to send."""

    flow_type: str = ""
    subscription_id: str = ""
    locale: str = ""
    flow_data: dict[str, Any] = field(default_factory=dict)
    #: The coupon offered in a ``subscription_cancel`` flow (set by ``portal.retention``,
    #: never from the form); "" for none.
    retention_coupon: str = ""


def parse_portal_form(
    form: Mapping[str, Any], *, customer_id: str, flow_return_url: str, account: str = ""
) -> PortalFlow:
    """Check the optional fields; raise ``PortalRequestError`` with a message for the user.

    A subscription flow naming a subscription stored for another customer (or on
    another account than ``account``) is refused here. One not stored locally is
    passed on: Stripe refuses a subscription of another customer itself (an
    ``invalid_request_error``), so no portal opens for the wrong account either way.
    ``subscription_update_confirm`` needs the stored row, for the subscription item id
    Stripe requires.
    """
    locale = _field(form, "locale")
    if locale and locale not in LOCALES:
        raise PortalRequestError(_("That language is not available."), code="invalid_locale")

    flow_type = _field(form, "flow")
    if not flow_type:
        return PortalFlow(locale=locale)
    if flow_type not in FLOW_TYPES:
        raise PortalRequestError(_("That billing page does not exist."), code="invalid_flow")

    flow_data: dict[str, Any] = {"type": flow_type}
    subscription_id = ""
    if flow_type in SUBSCRIPTION_FLOWS:
        subscription_id = _field(form, "subscription")
        if not _SUBSCRIPTION_ID_RE.fullmatch(subscription_id):
            raise PortalRequestError(
                _("Choose a subscription to manage."), code="invalid_subscription"
            )
        stored = _stored_subscription(subscription_id)
        if stored is not None and (
            stored.account != account
            or not belongs_to(stored.customer_id, stored.customer_account, customer_id)
        ):
            raise PortalRequestError(
                _("That subscription does not belong to your account."),
                code="foreign_subscription",
                status=403,
            )
        if stored is not None and stored.status in ENDED_STATUSES:
            # Stripe would refuse it too, with a message meant for developers.
            raise PortalRequestError(
                _("That subscription has already ended."), code="ended_subscription", status=409
            )
        flow_data[flow_type] = _subscription_flow_params(flow_type, subscription_id, stored, form)
    flow_data["after_completion"] = after_completion(form, flow_return_url)
    return PortalFlow(
        flow_type=flow_type, subscription_id=subscription_id, locale=locale, flow_data=flow_data
    )


def after_completion(form: Mapping[str, Any], flow_return_url: str) -> dict[str, Any]:
    """Stripe's ``flow_data.after_completion`` from ``after`` and ``confirmation_message``.

    By default the user comes back through the return link, not to the portal home, so
    the visit's return is recorded. The message's length is checked here, before any
    request: Stripe would refuse it with an error meant for developers.
    """
    after = _field(form, "after") or "redirect"
    message = _field(form, "confirmation_message")
    if after not in AFTER_COMPLETION_TYPES:
        raise PortalRequestError(
            _("That billing page does not exist."), code="invalid_after_completion"
        )
    if message and after != "confirmation":
        raise PortalRequestError(
            _("That billing page does not exist."), code="confirmation_message_without_confirmation"
        )
    if len(message) > CONFIRMATION_MESSAGE_MAX_LENGTH:
        raise PortalRequestError(
            _("That billing page does not exist."), code="confirmation_message_too_long"
        )
    kind = AFTER_COMPLETION_TYPES[after]
    if kind == "redirect":
        return {"type": kind, "redirect": {"return_url": flow_return_url}}
    if kind == "hosted_confirmation" and message:
        return {"type": kind, "hosted_confirmation": {"custom_message": message}}
    return {"type": kind}


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _stored_subscription(subscription_id: str) -> StripeSubscription | None:
    return (
        StripeSubscription.objects.filter(stripe_id=subscription_id)
        .only("customer_id", "customer_account", "account", "items", "status")
        .first()
    )


def _subscription_flow_params(
    flow_type: str,
    subscription_id: str,
    stored: StripeSubscription | None,
    form: Mapping[str, Any],
) -> dict[str, Any]:
    params: dict[str, Any] = {"subscription": subscription_id}
    if flow_type == "subscription_update_confirm":
        params["items"] = [_confirm_item(stored, form)]
    return params


def _confirm_item(stored: StripeSubscription | None, form: Mapping[str, Any]) -> dict[str, Any]:
    """The one item Stripe lets this flow change, moved to the requested price."""
    price = _field(form, "price")
    if not _PRICE_ID_RE.fullmatch(price):
        raise PortalRequestError(_("Choose a plan to switch to."), code="invalid_price")
    if stored is None:
        raise PortalRequestError(
            _("This subscription cannot be changed here yet. Please try again in a minute."),
            code="unknown_subscription",
            status=409,
        )
    item_ids = [str(item.get("id") or "") for item in stored.items if isinstance(item, dict)]
    if len(item_ids) != 1 or not item_ids[0]:
        # Stripe's flow takes one item; subscriptions with several are not updatable.
        raise PortalRequestError(
            _("This subscription cannot be switched to another plan here."),
            code="unsupported_subscription",
            status=409,
        )
    return {"id": item_ids[0], "price": price}
