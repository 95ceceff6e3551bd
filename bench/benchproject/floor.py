"""The floors: the least any app doing the same job must do, to compare the app with.

- ``floor_webhook``: verify the signature with ``stripe.Webhook.construct_event``
  and insert the event once, keyed by its id (a redelivery inserts nothing).
- ``floor_portal_redirect``: the signed-in user's customer, then the one SDK call
  that creates a portal session, then a 303 to it.
- ``floor_portal_redirect_recorded``: the same plus one ``Model.objects.create`` of
  the visit, what any app that keeps its portal visits must add.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from benchproject.models import FloorEvent
from django_stripe_portal.models import PortalSession, StripeCustomer


@cache
def _insert_sql(vendor: str) -> str:
    table = FloorEvent._meta.db_table
    payload = "%s::jsonb" if vendor == "postgresql" else "%s"
    # Only our own table name is interpolated; the values are parameters.
    return (
        f"INSERT INTO {table} (stripe_id, type, payload) VALUES (%s, %s, {payload}) "  # noqa: S608
        "ON CONFLICT (stripe_id) DO NOTHING"
    )


@csrf_exempt
@require_POST
def floor_webhook(request: HttpRequest) -> HttpResponse:
    try:
        body = request.body
        event = stripe.Webhook.construct_event(
            body, request.headers.get("Stripe-Signature"), settings.WEBHOOK_SECRET
        )
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponseBadRequest()
    # One statement, in autocommit: a redelivery inserts nothing. (The SDK's object
    # holds Decimals that JSON cannot encode, so the body is stored as sent.)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection.vendor), [event.id, event.type, body.decode()])
    return HttpResponse()


@cache
def _stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_PORTAL["API_KEY"],
        base_addresses={"api": settings.STRIPE_API},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=20.0),
    )


def _portal_session(request: HttpRequest) -> tuple[str, Any] | None:
    """The signed-in user's customer and a new portal session for it (None: no customer)."""
    customer_id = (
        StripeCustomer.objects.filter(user_id=request.user.pk)
        .values_list("customer_id", flat=True)
        .first()
    )
    if customer_id is None:
        return None
    session = _stripe_client().v1.billing_portal.sessions.create(
        params={"customer": customer_id, "return_url": request.build_absolute_uri("/")}
    )
    return customer_id, session


@require_POST
@login_required
def floor_portal_redirect(request: HttpRequest) -> HttpResponse:
    opened = _portal_session(request)
    if opened is None:
        return HttpResponse(status=404)
    return HttpResponseRedirect(opened[1].url, status=303)


@require_POST
@login_required
def floor_portal_redirect_recorded(request: HttpRequest) -> HttpResponse:
    """The floor plus the one INSERT any app that keeps its portal visits must make."""
    opened = _portal_session(request)
    if opened is None:
        return HttpResponse(status=404)
    customer_id, session = opened
    PortalSession.objects.create(
        stripe_id=session.id,
        customer_id=customer_id,
        user_id=request.user.pk,
        created_at=datetime.fromtimestamp(session.created, tz=UTC),
    )
    return HttpResponseRedirect(session.url, status=303)
