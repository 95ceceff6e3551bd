"""The example SaaS: a home page, sign-up, and an account page with the portal buttons.

The account page shows what this site knows from webhooks alone (the
``StripeSubscription`` rows and the portal visits), never a live Stripe call,
so it is what a real site can afford to render on every request.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from django_stripe_portal.access import entitlement_required, entitlements
from django_stripe_portal.client import get_client, request_id_of
from django_stripe_portal.configurations.feedback_options import feedback_option_descriptions
from django_stripe_portal.customer_labels import label_for_user
from django_stripe_portal.customers import link_customer, linked_customer
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.portal.accounts import resolve_account

logger = logging.getLogger(__name__)

#: Statuses in which a subscription still has a plan worth showing.
_CURRENT_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused", "incomplete")


def demo_context(request: HttpRequest) -> dict[str, Any]:
    """Template context for every page: which mode the demo runs in."""
    return {"stripe_offline": settings.STRIPE_OFFLINE}


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create the user, then their Stripe customer, as a SaaS does at sign-up."""
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        try:
            customer = get_client().v1.customers.create(
                params={"name": user.get_username(), "metadata": {"django_user_id": str(user.pk)}}
            )
        except stripe.StripeError as exc:
            logger.warning("Could not create a Stripe customer (request %s)", request_id_of(exc))
            messages.error(request, "Your account exists, but Stripe could not be reached.")
        else:
            link_customer(user, customer.id)
        return redirect("account")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    customer_id = linked_customer(request)
    account = resolve_account(request)  # a merchant's customer: the merchant's account
    subscriptions = list(
        StripeSubscription.objects.filter(
            customer_id=customer_id, account=account, status__in=_CURRENT_STATUSES
        ).order_by("-event_created_at", "-pk")
        if customer_id
        else []
    )
    descriptions = feedback_option_descriptions() if subscriptions else {}
    plans = [
        {
            "subscription": sub,
            # The custom reason the customer picked, in the words the configuration offered.
            "feedback_option": descriptions.get(
                option := str(sub.cancellation_details.get("feedback_option") or ""), option
            ),
            "plan_names": [
                settings.PLAN_NAMES.get(item.get("price"), item.get("price")) for item in sub.items
            ],
            "cancel_scheduled": sub.cancel_at_period_end or sub.cancel_at is not None,
        }
        for sub in subscriptions
    ]
    # Newest first; Stripe's times are whole seconds, so the row order breaks ties.
    changes = WebhookEvent.objects.exclude(change_kind="").defer("payload")
    visits = (
        PortalSession.objects.filter(user=request.user)
        .prefetch_related(Prefetch("events", queryset=changes.order_by("created_at", "pk")))
        .order_by("-created_at", "-pk")[:5]
    )
    return render(
        request,
        "demo/account.html",
        {
            "person": label_for_user(request.user),  # CUSTOMER_LABEL, as the admin names them
            "customer_id": customer_id,
            "merchant_account": account,
            "merchant_name": settings.DEMO_MERCHANT_NAME if account else "",
            "plans": plans,
            "visits": visits,
            "no_customer": "no-customer" in request.GET,
            "needs_feature": request.GET.get("needs") == "pro-reports",
            "features": [
                {"key": key, "name": settings.FEATURE_NAMES.get(key, key)}
                for key in sorted(entitlements(user=request.user, request=request))
            ],
        },
    )


@entitlement_required("pro-reports")
def pro_reports(request: HttpRequest) -> HttpResponse:
    """A page gated by a feature, not a plan: whoever Stripe entitles to "pro-reports"
    (the Pro product carries it) sees it; others are sent to ENTITLEMENT_REQUIRED_URL."""
    return render(request, "demo/reports.html")
