"""``stripe_portal:redirect``: the billing button's POST target.

Thin: it resolves who is asking, lets ``django_stripe_portal.portal`` do the work, and turns
every refusal or Stripe error into a message and a redirect back (or a JSON error
for single-page apps), never a 500. Under WSGI the view is synchronous; under ASGI
it is async, the Stripe call runs in a worker thread instead of holding the event
loop, and the database work runs where Django's ORM wants it (``sync_to_async``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import stripe
from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from django_stripe_portal.client import request_id_of
from django_stripe_portal.conf import get_settings
from django_stripe_portal.exceptions import AccountResolverError, PortalRequestError
from django_stripe_portal.portal.accounts import resolve_account
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
from django_stripe_portal.state.accounts import is_deauthorized

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
    except AccountResolverError as error:
        # The host's resolver is wrong: say so in the log, not to the user, and send nothing.
        logger.error("No portal session: %s", error)
        unavailable = PortalRequestError(
            _("Billing is unavailable right now. Please try again in a moment."),
            code="account_resolver_error",
            status=500,
        )
        return _refused(request, unavailable, wants_json=wants_json)
    if isinstance(prepared, _Detour):
        return _send_to(prepared.url, wants_json=wants_json)
    return prepared


def _not_a_post(request: HttpRequest) -> HttpResponse | None:
    """A GET of the button's URL (a bookmark, a reload, a link shared by mistake) opens
    nothing: only the POST form may create a session. Back to ``RETURN_URL``, where the
    button is, rather than the browser's bare "405" page."""
    if request.method == "POST":
        return None
    return HttpResponseRedirect(default_return_url(), status=303)


def _portal_redirect_sync(request: HttpRequest) -> HttpResponse:
    if (elsewhere := _not_a_post(request)) is not None:
        return elsewhere
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
    if (elsewhere := _not_a_post(request)) is not None:
        return elsewhere
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


def _not_signed_in() -> JsonResponse:
    """A single-page app's fetch follows a redirect to the login page and gets HTML it
    cannot use; a 401 with the login URL lets it send the user there itself."""
    return JsonResponse(
        {
            "error": {
                "code": "not_authenticated",
                "message": _("Sign in to manage your billing."),
                "login_url": resolve_url(settings.LOGIN_URL),
            }
        },
        status=401,
    )


def _json_401_when_signed_out_sync(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _wants_json(request) and not request.user.is_authenticated:
            return _not_signed_in()
        return view(request, *args, **kwargs)

    return wrapper


def _json_401_when_signed_out_async(
    view: Callable[..., Awaitable[HttpResponse]],
) -> Callable[..., Awaitable[HttpResponse]]:
    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _wants_json(request) and not (await request.auser()).is_authenticated:
            return _not_signed_in()
        return await view(request, *args, **kwargs)

    return wrapper


def _as_view(view: Any, json_401: Callable[[Any], Any]) -> Any:
    # Not atomic: no transaction may be held open across the Stripe call (and an async
    # view under ATOMIC_REQUESTS would be refused by Django). login_not_required: the
    # view answers signed-out users itself (JSON 401, else login_required's redirect),
    # also under LoginRequiredMiddleware, which would redirect JSON clients too. A GET
    # (a bookmarked or reloaded button URL) opens nothing: it is sent to RETURN_URL.
    only = require_http_methods(["POST", "GET", "HEAD"])
    return transaction.non_atomic_requests(only(login_not_required(json_401(login_required(view)))))


#: Open the Stripe customer portal for the signed-in user's customer.
portal_redirect = SyncOrAsyncView(
    _as_view(_portal_redirect_sync, _json_401_when_signed_out_sync),
    _as_view(_portal_redirect_async, _json_401_when_signed_out_async),
)


def _prepare(request: HttpRequest, user: Any) -> PortalSessionPlan | _Detour:
    account = resolve_account(request)
    if is_deauthorized(account):
        raise PortalRequestError(
            _("Billing for this account is no longer available here."),
            code="account_disconnected",
            status=409,
        )
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
