"""The "Portal activity" page: the figures of ``django_stripe_portal.activity`` for a
chosen range, as charts (``admin.charts``) and tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import activity
from django_stripe_portal.admin import charts
from django_stripe_portal.models import PortalConfiguration

#: The activity page refuses longer ranges (one point per day on the chart).
MAX_ACTIVITY_DAYS = 366


def activity_view(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """The "Portal activity" page: the figures of ``django_stripe_portal.activity``
    for a chosen range, as tables and inline SVG charts."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = ActivityRangeForm(request.GET or None)
    if form.is_valid():
        activity_range = form.activity_range()
        customer_id = form.cleaned_data["customer"]
    else:
        activity_range = activity.ActivityRange.last_days(30)
        customer_id = ""
    report = activity.activity_report(activity_range)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Portal activity"),
        "opts": model_admin.model._meta,
        "form": form,
        "report": report,
        "time_zone": str(timezone.get_default_timezone()),
        "visits_chart": charts.line_chart(
            [date_format(day.day, "M j") for day in report.per_day],
            [
                charts.Series(str(_("visits")), [day.visits for day in report.per_day]),
                charts.Series(
                    str(_("unique customers")),
                    [day.unique_customers for day in report.per_day],
                ),
            ],
            title=str(_("Visits and unique customers per day")),
        ),
        "outcomes_chart": charts.bar_chart(
            [(str(row.label), row.visits) for row in report.outcomes],
            title=str(_("Visits by what they ended in")),
        ),
        "customer_id": customer_id,
        "history": activity.customer_history(customer_id, activity_range) if customer_id else None,
    }
    return TemplateResponse(request, "admin/django_stripe_portal/portal_activity.html", context)


class ActivityRangeForm(forms.Form):
    """The range, configuration and (optionally) customer the activity page shows."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    configuration = forms.ChoiceField(required=False)
    customer = forms.CharField(
        required=False, max_length=255, help_text=_("A customer id (cus_…) to list its visits.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keys = PortalConfiguration.objects.order_by("key").values_list("key", flat=True)
        configuration = self.fields["configuration"]
        assert isinstance(configuration, forms.ChoiceField)
        configuration.choices = [("", _("all")), *((key, key) for key in keys.distinct())]
        default = activity.ActivityRange.last_days(30)
        self.fields["start"].initial = default.start
        self.fields["end"].initial = default.end

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        today = timezone.localdate(timezone=timezone.get_default_timezone())
        end = cleaned.get("end") or today
        start = cleaned.get("start") or end - dt.timedelta(days=29)
        if end < start:
            raise forms.ValidationError(_("The range ends before it starts."))
        if (end - start).days + 1 > MAX_ACTIVITY_DAYS:
            raise forms.ValidationError(
                _("Choose at most %(days)d days.") % {"days": MAX_ACTIVITY_DAYS}
            )
        cleaned["start"], cleaned["end"] = start, end
        cleaned["customer"] = (cleaned.get("customer") or "").strip()
        return cleaned

    def activity_range(self) -> activity.ActivityRange:
        return activity.ActivityRange(
            start=self.cleaned_data["start"],
            end=self.cleaned_data["end"],
            configuration=self.cleaned_data.get("configuration") or None,
        )
