"""``stripe_portal:webhook``: verify → accept (parse, mode, meaning, redaction) → store once
→ dispatch, then answer.

Thin on purpose: every decision lives in ``django_stripe_portal.webhooks``.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_stripe_portal.conf import PortalSettings, get_settings
from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.webhooks.accept import accept_event
from django_stripe_portal.webhooks.process import Outcome
from django_stripe_portal.webhooks.receive import receive_event
from django_stripe_portal.webhooks.verify import (
    CONNECT_ENDPOINT,
    PLATFORM_ENDPOINT,
    verify_signature_of_endpoints,
)

logger = logging.getLogger("django_stripe_portal.webhooks")

#: Status codes: Stripe retries anything but 2xx, which is what FAILED and BUSY want.
_STATUS_CODES = {
    Outcome.PROCESSED: 200,
    Outcome.IGNORED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.ENQUEUED: 200,
    Outcome.FAILED: 500,
    Outcome.BUSY: 409,
    Outcome.MISSING: 500,
    Outcome.NOT_STORED: 503,
    Outcome.NOT_ENQUEUED: 503,
    # Only a replay can meet a pruned row (a delivery of a done event is a duplicate).
    Outcome.PRUNED: 200,
}
_MESSAGES = {
    Outcome.FAILED: "a receiver failed; the event is stored as failed and will be retried",
    Outcome.BUSY: "this event is being processed by another delivery; retry later",
    Outcome.NOT_STORED: "the event could not be stored; retry later",
    Outcome.NOT_ENQUEUED: (
        "the event is stored as pending but could not be queued (no receiver ran); "
        "recover_stripe_events or this retry will process it"
    ),
}

_warned_api_versions: set[str] = set()


def read_body(request: HttpRequest, limit: int) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise WebhookRefused("body too large", f"{declared} bytes > WEBHOOK_MAX_BODY_BYTES={limit}")
    try:
        body = request.body
    except RequestDataTooBig:
        raise WebhookRefused("body too large", "over DATA_UPLOAD_MAX_MEMORY_SIZE") from None
    if len(body) > limit:
        raise WebhookRefused(
            "body too large", f"{len(body)} bytes > WEBHOOK_MAX_BODY_BYTES={limit}"
        )
    return body


def _warn_on_api_version(api_version: str | None, expected: str) -> None:
    """Payload shapes follow the endpoint's API version, not the one the app pins."""
    if api_version and api_version != expected and api_version not in _warned_api_versions:
        _warned_api_versions.add(api_version)
        logger.warning(
            "Stripe sent an event with API version %s but STRIPE_PORTAL['API_VERSION'] is %s: "
            "payload shapes follow the webhook endpoint's version. Recreate the endpoint with "
            "`manage.py setup_stripe_webhook` to pin %s.",
            api_version,
            expected,
            expected,
        )


def _tolerance(conf: PortalSettings) -> float:
    """The replay window, said in the log when the setting is not a number of seconds
    (the check says it too, stripe_portal.E018); never a 500 over it."""
    tolerance = conf.webhook_tolerance
    if tolerance != conf.WEBHOOK_TOLERANCE:
        logger.error(
            "STRIPE_PORTAL['WEBHOOK_TOLERANCE'] = %r is not a number of seconds; %ss is used. "
            "Write a number (int(os.environ[...])); manage.py check reports it.",
            conf.WEBHOOK_TOLERANCE,
            tolerance,
        )
    return tolerance


@transaction.non_atomic_requests
@csrf_exempt
@login_not_required
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Answer Stripe: 2xx once the event is safely stored (and processed in sync mode)."""
    conf = get_settings()
    try:
        body = read_body(request, conf.WEBHOOK_MAX_BODY_BYTES)
        _, signed_by = verify_signature_of_endpoints(
            body,
            request.META.get("HTTP_STRIPE_SIGNATURE"),
            {
                PLATFORM_ENDPOINT: conf.WEBHOOK_SECRETS,
                CONNECT_ENDPOINT: conf.CONNECT_WEBHOOK_SECRETS,
            },
            _tolerance(conf),
        )
        event, meaning = accept_event(body, conf.livemode, signed_by=signed_by)
    except WebhookRefused as refusal:
        logger.warning(
            "Stripe webhook refused (400): %s",
            refusal.reason
            if refusal.detail == refusal.reason
            else f"{refusal.reason}: {refusal.detail}",
            extra={"status_code": 400, "request": request},
        )
        return HttpResponse(refusal.reason, status=400, content_type="text/plain")

    _warn_on_api_version(event.get("api_version"), conf.api_version)
    return answer_for(receive_event(event, meaning))


def answer_for(outcome: Outcome) -> HttpResponse:
    """The answer Stripe gets for a received event, the same from either door."""
    return HttpResponse(
        _MESSAGES.get(outcome, outcome.value),
        status=_STATUS_CODES[outcome],
        content_type="text/plain",
    )
