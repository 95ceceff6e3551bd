"""``stripe_portal:redirect``: the billing button's POST target.

Thin: it resolves who is asking, lets ``django_stripe_portal.portal`` do the work, and turns
every refusal or Stripe error into a message and a redirect back (or a JSON error
for single-page apps), never a 500. Under WSGI the view is synchronous; under ASGI
it is async, the Stripe call runs in a worker thread instead of holding the event
loop, and the database work runs where Django's ORM wants it (``sync_to_async``).
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from asgiref.sync import sync_to_async
from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from django_stripe_portal.client import request_id_of
from django_stripe_portal.conf import get_settings
from django_stripe_portal.exceptions import PortalRequestError
from django_stripe_portal.portal.customers import resolve_customer
from django_stripe_portal.portal.guards import guard_redirect
from django_stripe_portal.portal.return_links import (
    default_return_url,
    return_to_or_default,
    safe_return_to,
)
from django_stripe_portal.portal.sessions import (
    PortalSessionPlan,
    open_portal_session,
    plan_portal_session,
    record_portal_session,
)
from django_stripe_portal.portal.sync_or_async import SyncOrAsyncView

logger = logging.getLogger("django_stripe_portal.views")


class _Detour:
    """The portal guard's answer: send the user to ``url`` instead."""

    def __init__(self, url: str) -> None:
        self.url = url


def _decide(
    request: HttpRequest, user: Any, *, wants_json: bool
) -> HttpResponse | PortalSessionPlan:
    """Everything before Stripe (database only): a ready plan, or the answer instead."""
    try:
        prepared = _prepare(request, user)
    except PortalRequestError as refusal:
        return _refused(request, refusal, wants_json=wants_json)
    if isinstance(prepared, _Detour):
        return _send_to(prepared.url, wants_json=wants_json)
    return prepared


def _portal_redirect_sync(request: HttpRequest) -> HttpResponse:
    wants_json = _wants_json(request)
    decided = _decide(request, request.user, wants_json=wants_json)
    if isinstance(decided, HttpResponse):
        return decided
    try:
        session = open_portal_session(decided)
    except stripe.StripeError as error:
        return _stripe_failed(request, decided, error, wants_json=wants_json)
    record_portal_session(decided, session)
    return _send_to(session.url, wants_json=wants_json)


async def _portal_redirect_async(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    request.user = user  # the sync code below must not load the user a second time
    wants_json = _wants_json(request)
    decided = await sync_to_async(_decide)(request, user, wants_json=wants_json)
    if isinstance(decided, HttpResponse):
        return decided
    try:
        # In a worker thread: the event loop keeps serving while Stripe answers.
        session = await sync_to_async(open_portal_session, thread_sensitive=False)(decided)
    except stripe.StripeError as error:
        return _stripe_failed(request, decided, error, wants_json=wants_json)
    await sync_to_async(record_portal_session)(decided, session)
    return _send_to(session.url, wants_json=wants_json)


def _as_view(view: Any) -> Any:
    # Not atomic: no transaction may be held open across the Stripe call (and an async
    # view under ATOMIC_REQUESTS would be refused by Django).
    return transaction.non_atomic_requests(require_POST(login_required(view)))


#: Open the Stripe customer portal for the signed-in user's customer.
portal_redirect = SyncOrAsyncView(_as_view(_portal_redirect_sync), _as_view(_portal_redirect_async))


def _prepare(request: HttpRequest, user: Any) -> PortalSessionPlan | _Detour:
    customer_id = resolve_customer(request)
    detour = guard_redirect(request, customer_id)
    if detour:
        return _Detour(str(resolve_url(detour)))
    return_to = return_to_or_default(request, request.POST.get("return_to"))
    return plan_portal_session(request, user=user, customer_id=customer_id, return_to=return_to)


def _wants_json(request: HttpRequest) -> bool:
    # META, not request.headers: that builds a dict of every header on first use.
    accept = request.META.get("HTTP_ACCEPT", "")
    return "application/json" in accept and "text/html" not in accept


def _send_to(url: str, *, wants_json: bool) -> HttpResponse:
    """The portal URL is a bearer credential: no cache may keep the answer that carries it."""
    response: HttpResponse
    if wants_json:
        response = JsonResponse({"url": url})
    else:
        response = HttpResponseRedirect(url, status=303)
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _back_url(request: HttpRequest) -> str:
    """Where "back" is: the form's safe ``return_to``, else the safe referer, else RETURN_URL."""
    return (
        safe_return_to(request, request.POST.get("return_to"))
        or safe_return_to(request, request.headers.get("Referer"))
        or default_return_url()
    )


def _tell_user(request: HttpRequest, message: str) -> None:
    if apps.is_installed("django.contrib.messages"):
        messages.error(request, message, fail_silently=True)


def _refused(
    request: HttpRequest, refusal: PortalRequestError, *, wants_json: bool
) -> HttpResponse:
    if wants_json:
        return JsonResponse(
            {"error": {"code": refusal.code, "message": refusal.message}}, status=refusal.status
        )
    if refusal.code == "no_customer":
        no_customer_url = get_settings().NO_CUSTOMER_URL
        if not no_customer_url:
            raise Http404(refusal.message)
        _tell_user(request, refusal.message)
        return HttpResponseRedirect(resolve_url(no_customer_url))
    _tell_user(request, refusal.message)
    return HttpResponseRedirect(_back_url(request))


def _stripe_failed(
    request: HttpRequest,
    plan: PortalSessionPlan,
    error: stripe.StripeError,
    *,
    wants_json: bool,
) -> HttpResponse:
    request_id = request_id_of(error)
    transient = isinstance(error, stripe.RateLimitError | stripe.APIConnectionError)
    logger.log(
        logging.WARNING if transient else logging.ERROR,
        "No portal session for %s: %s (HTTP %s): %s (request id %s)",
        plan.customer_id,
        type(error).__name__,
        error.http_status or "none",
        error.user_message or error.code or "no message",
        request_id or "none",
    )
    if request_id:
        message = _(
            "Billing is unavailable right now. Please try again in a moment. "
            "(reference %(request_id)s)"
        ) % {"request_id": request_id}
    else:
        message = _("Billing is unavailable right now. Please try again in a moment.")
    if wants_json:
        status = 429 if isinstance(error, stripe.RateLimitError) else 502
        if isinstance(error, stripe.APIConnectionError):
            status = 503
        return JsonResponse(
            {"error": {"code": "stripe_error", "message": message, "request_id": request_id}},
            status=status,
        )
    _tell_user(request, message)
    return HttpResponseRedirect(plan.return_to)
