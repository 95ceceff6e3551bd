"""``stripe_portal:events``: the thin door. An event destination's notification is
verified, its event fetched, then stored once and dispatched as a snapshot delivery is
(``webhooks/event_destination.py``); this view only answers Stripe.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_stripe_portal.conf import get_settings
from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.views.webhook import answer_for, read_body
from django_stripe_portal.webhooks.event_destination import (
    ThinEventNotFetched,
    receive_notification,
)

logger = logging.getLogger("django_stripe_portal.webhooks")


@transaction.non_atomic_requests
@csrf_exempt
@login_not_required
@require_POST
def stripe_thin_events(request: HttpRequest) -> HttpResponse:
    """Answer Stripe: 2xx once the event is safely stored (and processed in sync mode),
    503 when it could not be fetched (nothing stored; Stripe retries), 400 for a
    notification that is not signed or not Stripe's (nothing fetched)."""
    conf = get_settings()
    try:
        body = read_body(request, conf.WEBHOOK_MAX_BODY_BYTES)
        result = receive_notification(body, request.META.get("HTTP_STRIPE_SIGNATURE"), conf)
    except WebhookRefused as refusal:
        logger.warning(
            "Stripe thin event refused (400): %s",
            refusal.reason
            if refusal.detail == refusal.reason
            else f"{refusal.reason}: {refusal.detail}",
            extra={"status_code": 400, "request": request},
        )
        return HttpResponse(refusal.reason, status=400, content_type="text/plain")
    except ThinEventNotFetched as failure:
        logger.error("Stripe thin event not received (503): %s", failure)
        return HttpResponse(
            "the event could not be fetched from Stripe; retry later",
            status=503,
            content_type="text/plain",
        )
    if result.skipped:
        return HttpResponse(f"ignored: {result.skipped}", status=200, content_type="text/plain")
    return answer_for(result.outcome)
