"""``{% load stripe_portal %}``: the billing button, the subscription filter, and words
for Stripe's identifiers (``{{ visit.flow_type|flow_label }}``, ``…|feedback_label``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import access, labels
from django_stripe_portal.money_format import format_money
from django_stripe_portal.portal.button_form import (
    AFTER_COMPLETION_TYPES,
    CONFIRMATION_MESSAGE_MAX_LENGTH,
)

register = template.Library()

BUTTON_TEMPLATE = "django_stripe_portal/portal_button.html"


@register.simple_tag(takes_context=True)
def portal_button(
    context: template.Context,
    label: Any = None,
    *,
    flow: str = "",
    subscription: str = "",
    return_to: str = "",
    css_class: str = "",
    price: str = "",
    locale: str = "",
    after: str = "",
    confirmation_message: str = "",
) -> SafeString:
    """A POST form to ``stripe_portal:redirect``; nothing at all for anonymous users.

    The form only says what the user wants to do; which customer it is about is
    decided by the view, never by these fields. ``after`` (``redirect``,
    ``confirmation``, ``portal``) says where a flow ends; a template that cannot work
    fails when it renders, not when a customer clicks.
    """
    _check_after_completion(flow, after, str(confirmation_message))
    request = context.get("request")
    user = getattr(request, "user", None) if request is not None else context.get("user")
    if not getattr(user, "is_authenticated", False):
        return mark_safe("")
    button_context = {
        "action": reverse("stripe_portal:redirect"),
        "label": label or _("Manage billing"),
        "flow": flow,
        "subscription": subscription,
        "return_to": return_to,
        "css_class": css_class,
        "price": price,
        "locale": locale,
        "after": after,
        "confirmation_message": confirmation_message,
    }
    if request is None:
        # No `request` context processor: reuse the caller's token (a request would make one).
        button_context["csrf_token"] = context.get("csrf_token")
    html = render_to_string(BUTTON_TEMPLATE, button_context, request=request)
    return mark_safe(html)  # noqa: S308  (rendered by the autoescaping template engine)


def _check_after_completion(flow: str, after: str, message: str) -> None:
    if after and after not in AFTER_COMPLETION_TYPES:
        choices = ", ".join(f'"{name}"' for name in AFTER_COMPLETION_TYPES)
        raise template.TemplateSyntaxError(
            f"portal_button: after={after!r} is not one of {choices}."
        )
    if after and not flow:
        raise template.TemplateSyntaxError(
            "portal_button: after= applies to a flow; add flow=… (the portal's home page "
            "has no completion step)."
        )
    if message and after != "confirmation":
        raise template.TemplateSyntaxError(
            'portal_button: confirmation_message= needs after="confirmation".'
        )
    if len(message.strip()) > CONFIRMATION_MESSAGE_MAX_LENGTH:
        raise template.TemplateSyntaxError(
            f"portal_button: confirmation_message is {len(message.strip())} characters long; "
            f"Stripe accepts at most {CONFIRMATION_MESSAGE_MAX_LENGTH}."
        )


_MEMO = "_stripe_portal_has_active_subscription"


@register.filter(name="has_active_subscription")
def has_active_subscription_filter(user_or_request: Any, account: Any = None) -> bool:
    """``{{ request.user|has_active_subscription }}``: False for anonymous users; else one
    query, remembered on that user object (per account) so a page that asks in several
    places pays once.

    The account is the argument (``"acct_…"``, ``""`` for the platform, or a request:
    ``ACCOUNT_RESOLVER``'s answer for it); without one, applied to ``request`` it is the
    request's account, applied to a user the platform.
    """
    request = user_or_request if isinstance(user_or_request, HttpRequest) else None
    user = getattr(request, "user", None) if request is not None else user_or_request
    if isinstance(account, HttpRequest):
        request, account = account, None
    if not getattr(user, "is_authenticated", False):
        return False
    account = access.account_for(account, request)
    memo: dict[str, bool] = getattr(user, _MEMO, None) or {}
    if account not in memo:
        memo[account] = access.has_active_subscription(user=user, account=account)
        setattr(user, _MEMO, memo)
    return memo[account]


_FEATURES_MEMO = "_stripe_portal_entitlements"


@register.filter(name="has_entitlement")
def has_entitlement_filter(user_or_request: Any, lookup_key: Any) -> bool:
    """``{{ request.user|has_entitlement:"pro-reports" }}``: whether the user may use that
    feature (False for anonymous users). Applied to a user: the platform's customer;
    applied to ``request``: the request's account. One query per user and account,
    remembered on the user object, however many features the page asks about."""
    request = user_or_request if isinstance(user_or_request, HttpRequest) else None
    user = getattr(request, "user", None) if request is not None else user_or_request
    if not getattr(user, "is_authenticated", False) or not isinstance(lookup_key, str):
        return False
    account = access.account_for(None, request)
    memo: dict[str, frozenset[str]] = getattr(user, _FEATURES_MEMO, None) or {}
    if account not in memo:
        memo[account] = access.entitlements(user=user, account=account)
        setattr(user, _FEATURES_MEMO, memo)
    return lookup_key in memo[account]


register.filter("feedback_label", labels.feedback_label)
register.filter("cancellation_reason_label", labels.cancellation_reason_label)
register.filter("flow_label", labels.flow_label)
register.filter("status_label", labels.status_label)
register.filter("change_kind_label", labels.change_kind_label)


@register.filter(name="money")
def money_filter(amount: Any, currency: str) -> str:
    """``{{ 29000|money:"eur" }}`` → "€290.00 a month" (minor units, a run rate)."""
    if amount is None or amount == "":
        return "-"
    return format_money(int(amount), str(currency or ""), per_month=True)


@register.filter(name="change_labels")
def change_labels(events: Any) -> list[str]:
    """``{{ visit.events.all|change_labels|join:", " }}``: what a visit changed, in words,
    each kind once (one card update is two events but one change)."""
    return labels.distinct_change_labels(getattr(event, "change_kind", "") for event in events)
