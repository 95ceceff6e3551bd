"""Create a portal session: build the params, make one Stripe call, save the row, signal.

The three steps are separate functions so that an async view can run the Stripe
call off the event loop and the database work where Django wants it; ``create_portal_session``
chains them for synchronous callers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe
from django.dispatch import Signal
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.client import get_client
from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import PortalConfiguration, PortalSession
from django_stripe_portal.portal_flows import PortalFlow, PortalRequestError, parse_portal_form
from django_stripe_portal.return_tokens import new_return_key, sign_return_key
from django_stripe_portal.signals import portal_session_created
from django_stripe_portal.single_statement import upsert

logger = logging.getLogger(__name__)

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

    @property
    def idempotency_key(self) -> str:
        """One key per click: network retries of that click can never open a second session."""
        return f"django-stripe-portal-session-{self.return_key}"


@dataclass(frozen=True)
class CreatedPortalSession:
    """The saved visit and the portal URL, which is for the browser only (never stored)."""

    portal_session: PortalSession
    url: str = field(repr=False)


def resolve_customer(request: HttpRequest) -> str:
    """The customer from ``CUSTOMER_RESOLVER``; never from anything the user sent."""
    resolver = get_settings().imported("CUSTOMER_RESOLVER")
    customer_id = resolver(request) if resolver is not None else None
    if not customer_id:
        raise PortalRequestError(
            _("There is no billing account for you yet."), code="no_customer", status=404
        )
    return str(customer_id)


def guard_redirect(request: HttpRequest, customer_id: str) -> str | None:
    """Where ``PORTAL_GUARD`` sends this customer instead of the portal, if anywhere."""
    guard = get_settings().imported("PORTAL_GUARD")
    if guard is None:
        return None
    target = guard(request, customer_id)
    return str(target) if target else None


def resolve_configuration(request: HttpRequest, customer_id: str) -> PortalConfiguration | None:
    """The synced configuration for this customer, or None for the account's default.

    A key that was never synced (for the current mode) is logged as an error and the
    session falls back to the default, so a deploy that forgot ``sync_portal_configs``
    does not break the billing button.
    """
    conf = get_settings()
    resolver = conf.imported("CONFIGURATION_RESOLVER")
    key = (resolver(request, customer_id) if resolver is not None else None) or (
        conf.DEFAULT_CONFIGURATION
    )
    if not key:
        return None
    configuration = (
        PortalConfiguration.objects.filter(key=key, livemode=conf.livemode, active=True)
        .only("pk", "key", "stripe_id")
        .first()
    )
    if configuration is None:
        logger.error(
            "Portal configuration %r has no synced %s-mode configuration in Stripe; "
            "run `manage.py sync_portal_configs`. This session uses the account's default "
            "configuration instead.",
            key,
            conf.mode_name,
        )
    return configuration


def plan_portal_session(
    request: HttpRequest, *, user: Any, customer_id: str, return_to: str
) -> PortalSessionPlan:
    """Check the form, pick the configuration and build the request body (database only).

    ``return_to`` must already be safe (``return_urls.return_to_or_default``).
    """
    return_key = new_return_key()
    return_url = request.build_absolute_uri(
        reverse("stripe_portal:return", args=[sign_return_key(return_key)])
    )
    flow = parse_portal_form(request.POST, customer_id=customer_id, flow_return_url=return_url)
    configuration = resolve_configuration(request, customer_id)
    params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
    if configuration is not None:
        params["configuration"] = configuration.stripe_id
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
    )


def open_portal_session(plan: PortalSessionPlan) -> stripe.billing_portal.Session:
    """The one Stripe call of a click (raises ``stripe.StripeError``); touches no database."""
    return get_client().v1.billing_portal.sessions.create(
        plan.params,  # type: ignore[arg-type]  # checked against Stripe's spec in tests
        options={"idempotency_key": plan.idempotency_key},
    )


def record_portal_session(
    plan: PortalSessionPlan, session: stripe.billing_portal.Session
) -> PortalSession:
    """Save the visit (one autocommitted INSERT … ON CONFLICT) and send ``portal_session_created``.

    The ``billing_portal.session.created`` webhook may have stored the same session
    first; either order ends with one row carrying the app's ``user`` and ``return_to``.
    """
    row = PortalSession(
        stripe_id=session.id,
        customer_id=plan.customer_id,
        user=plan.user,
        configuration=plan.configuration,
        flow_type=plan.flow.flow_type,
        return_to=plan.return_to,
        locale=plan.flow.locale,
        livemode=bool(session.livemode),
        created_at=datetime.fromtimestamp(int(session.created), tz=UTC),
        source=PortalSession.Source.APP,
        return_key=plan.return_key,
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


def create_portal_session(
    request: HttpRequest, *, user: Any, customer_id: str, return_to: str
) -> CreatedPortalSession:
    """Plan, open and record a session in one synchronous call."""
    plan = plan_portal_session(request, user=user, customer_id=customer_id, return_to=return_to)
    session = open_portal_session(plan)
    return CreatedPortalSession(record_portal_session(plan, session), session.url)
