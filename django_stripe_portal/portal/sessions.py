"""One click, one portal session: plan the request (database only), make the one Stripe
call, then save the visit and send ``portal_session_created``.

The steps are separate functions so that an async view can run the Stripe call off
the event loop and the database work where Django wants it.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.dispatch import Signal
from django.http import HttpRequest
from django.urls import reverse

from django_stripe_portal.client import get_client, request_options
from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import PortalConfiguration, PortalSession
from django_stripe_portal.portal.accounts import (
    resolve_account,
    resolve_on_behalf_of,
    resolve_stripe_context,
)
from django_stripe_portal.portal.button_form import PortalFlow, parse_portal_form
from django_stripe_portal.portal.configuration import resolve_configuration
from django_stripe_portal.portal.retention import with_retention_offer
from django_stripe_portal.portal.return_links import new_return_key, sign_return_key
from django_stripe_portal.signals import portal_session_created
from django_stripe_portal.state.customers import is_customer_account
from django_stripe_portal.state.row_writes import upsert

logger = logging.getLogger("django_stripe_portal.portal")

# Every column a redirect-view insert sets; on a conflict with a row stored from the
# billing_portal.session.created webhook, all of them win (the app knows more).
_UPSERT_FIELDS = (
    "customer_id",
    "user",
    "configuration",
    "flow_type",
    "return_to",
    "locale",
    "livemode",
    "created_at",
    "source",
    "return_key",
    "account",
    "retention_coupon",
    "customer_account",
)


@dataclass(frozen=True)
class PortalSessionPlan:
    """Everything decided before Stripe is called; ``params`` is the exact request body."""

    customer_id: str
    user: Any
    configuration: PortalConfiguration | None
    flow: PortalFlow
    return_to: str
    return_key: str
    params: dict[str, Any]
    #: The connected account the customer lives on (sent as ``Stripe-Account``); "" for
    #: the platform.
    account: str = ""
    #: ``Stripe-Context`` of the call (organization keys); "" for the client's own.
    context: str = ""

    @property
    def idempotency_key(self) -> str:
        """One key per click: network retries of that click can never open a second session."""
        return f"django-stripe-portal-session-{self.return_key}"


def plan_portal_session(
    request: HttpRequest, *, user: Any, customer_id: str, return_to: str
) -> PortalSessionPlan:
    """Check the form, pick the configuration and build the request body (database only).

    With ``ACCOUNT_RESOLVER`` naming a connected account, the configuration is the one
    synced on that account and the session is created there (``Stripe-Account``);
    ``ON_BEHALF_OF_RESOLVER`` adds ``on_behalf_of`` for a platform customer.

    ``return_to`` must already be safe (``return_links.return_to_or_default``).
    """
    account = resolve_account(request)
    context = resolve_stripe_context(request)
    on_behalf_of = resolve_on_behalf_of(request, customer_id, account=account)
    return_key = new_return_key()
    return_url = request.build_absolute_uri(
        reverse("stripe_portal:return", args=[sign_return_key(return_key)])
    )
    flow = parse_portal_form(
        request.POST, customer_id=customer_id, flow_return_url=return_url, account=account
    )
    flow = with_retention_offer(flow, request, customer_id)
    configuration = resolve_configuration(request, customer_id)
    # An Accounts v2 customer is named by the account standing for it.
    customer_param = "customer_account" if is_customer_account(customer_id) else "customer"
    params: dict[str, Any] = {customer_param: customer_id, "return_url": return_url}
    after_expiration = get_settings().SESSION_AFTER_EXPIRATION
    if after_expiration:
        params["after_expiration"] = copy.deepcopy(after_expiration)
    if configuration is not None:
        params["configuration"] = configuration.stripe_id
    if on_behalf_of:
        params["on_behalf_of"] = on_behalf_of
    if flow.flow_data:
        params["flow_data"] = flow.flow_data
    if flow.locale:
        params["locale"] = flow.locale
    return PortalSessionPlan(
        customer_id=customer_id,
        user=user,
        configuration=configuration,
        flow=flow,
        return_to=return_to,
        return_key=return_key,
        params=params,
        account=account,
        context=context,
    )


def open_portal_session(plan: PortalSessionPlan) -> stripe.billing_portal.Session:
    """The one Stripe call of a click (raises ``stripe.StripeError``); touches no database."""
    return get_client().v1.billing_portal.sessions.create(
        plan.params,  # type: ignore[arg-type]  # checked against Stripe's spec in tests
        options=request_options(
            plan.account, idempotency_key=plan.idempotency_key, context=plan.context
        ),
    )


def record_portal_session(
    plan: PortalSessionPlan, session: stripe.billing_portal.Session
) -> PortalSession:
    """Save the visit (one autocommitted INSERT … ON CONFLICT) and send ``portal_session_created``.

    The ``billing_portal.session.created`` webhook may have stored the same session
    first; either order ends with one row carrying the app's ``user`` and ``return_to``.
    """
    # Stripe's answer names the customer (and, for an Accounts v2 one, the account
    # standing for it): stored as a webhook of the same session would store it.
    customer_account = str(getattr(session, "customer_account", None) or "")
    if not customer_account and is_customer_account(plan.customer_id):
        customer_account = plan.customer_id
    row = PortalSession(
        stripe_id=session.id,
        customer_id=str(getattr(session, "customer", None) or plan.customer_id),
        customer_account=customer_account,
        user=plan.user,
        configuration=plan.configuration,
        flow_type=plan.flow.flow_type,
        return_to=plan.return_to,
        locale=plan.flow.locale,
        livemode=bool(session.livemode),
        created_at=datetime.fromtimestamp(int(session.created), tz=UTC),
        source=PortalSession.Source.APP,
        return_key=plan.return_key,
        account=plan.account,
        retention_coupon=plan.flow.retention_coupon,
    )
    upsert(row, unique_fields=["stripe_id"], update_fields=list(_UPSERT_FIELDS))
    data = session.to_dict()
    data.pop("url", None)
    send_logged(portal_session_created, portal_session=row, event=None, data=data)
    return row


def send_logged(signal: Signal, **kwargs: Any) -> None:
    """Send a session signal; a receiver that raises is logged, not shown to the user.

    The portal session exists by then: a bug in a host's receiver must not keep the
    user from the portal (or from coming back).
    """
    for receiver, result in signal.send_robust(sender=PortalSession, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %s of a portal session signal failed for %s",
                getattr(receiver, "__qualname__", receiver),
                kwargs["portal_session"].stripe_id,
                exc_info=result,
            )
