from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from benchproject.floor import (
    floor_portal_redirect,
    floor_portal_redirect_recorded,
    floor_webhook,
)


def health(request: HttpRequest) -> HttpResponse:
    """Readiness probe for the runner (no database)."""
    return HttpResponse("ok")


urlpatterns = [
    path("billing/", include("django_stripe_portal.urls")),
    path("floor/webhook/", floor_webhook, name="floor_webhook"),
    path("floor/portal/", floor_portal_redirect, name="floor_redirect"),
    path(
        "floor/portal-recorded/",
        floor_portal_redirect_recorded,
        name="floor_redirect_recorded",
    ),
    path("health/", health),
]
