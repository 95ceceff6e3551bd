from __future__ import annotations

from django.urls import path

from django_stripe_portal.views.event_destination import stripe_thin_events
from django_stripe_portal.views.redirect import portal_redirect
from django_stripe_portal.views.return_ import portal_return
from django_stripe_portal.views.webhook import stripe_webhook

app_name = "stripe_portal"

urlpatterns = [
    path("portal/", portal_redirect, name="redirect"),
    path("return/<str:token>/", portal_return, name="return"),
    path("webhook/", stripe_webhook, name="webhook"),
    path("events/", stripe_thin_events, name="events"),
]
