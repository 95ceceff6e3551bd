"""The "Customers at risk" page: ``activity.customers_at_risk`` as a table, each
customer linked to their visits and subscriptions in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import activity
from django_stripe_portal.models import StripeSubscription

#: The page lists at most this many customers (newest signal first) and says so.
MAX_ROWS = 100


class AtRiskForm(forms.Form):
    days = forms.IntegerField(
        min_value=1,
        max_value=366,
        initial=30,
        required=False,
        label=_("Look back (days)"),
        help_text=_(
            "How far back visits count; scheduled cancellations and payment trouble "
            "count while they last."
        ),
    )


def at_risk_view(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """Needs the permission to view portal sessions, like the activity page."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = AtRiskForm(request.GET or None)
    days = (form.cleaned_data.get("days") if form.is_valid() else None) or 30
    # Everyone is counted; only the rows shown are built and named (the order does not
    # depend on the names): two label queries over 100 ids instead of tens of thousands.
    shown, total = activity.largest_at_risk(days, MAX_ROWS)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Customers at risk"),
        "opts": model_admin.model._meta,
        "subscription_opts": StripeSubscription._meta,
        "form": form,
        "days": days,
        "customers": shown,
        "total": total,
        "truncated": total > MAX_ROWS,
        "reasons": activity.AT_RISK_REASONS,
        # Reversed once, not once per row: "…/0/change/" with the row's id in place of 0.
        "visit_url": _change_url_prefix(model_admin, "portalsession"),
        "subscription_url": _change_url_prefix(model_admin, "stripesubscription"),
    }
    return TemplateResponse(request, "admin/django_stripe_portal/customers_at_risk.html", context)


def _change_url_prefix(model_admin: admin.ModelAdmin[Any], model_name: str) -> str:
    name = f"{model_admin.admin_site.name}:django_stripe_portal_{model_name}_change"
    return reverse(name, args=[0]).removesuffix("0/change/")
