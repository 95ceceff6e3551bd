"""The "Portal activity" page: the figures of ``django_stripe_portal.activity`` for a
chosen range, as charts (``admin.charts``) and tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import activity, labels
from django_stripe_portal.activity.jit import without_jit
from django_stripe_portal.activity.range_figures import RangeParts, range_figures, range_parts
from django_stripe_portal.activity.range_money import range_money
from django_stripe_portal.activity.report import report_of
from django_stripe_portal.activity.revenue import revenue_of
from django_stripe_portal.activity.revenue_weekly import weekly_money
from django_stripe_portal.activity.weekly import weeks_of
from django_stripe_portal.admin import charts
from django_stripe_portal.admin.records import short_date
from django_stripe_portal.customer_labels import customer_labels
from django_stripe_portal.customer_search import customer_id_for
from django_stripe_portal.models import PortalConfiguration
from django_stripe_portal.money_format import format_money, to_major

#: The activity page refuses longer ranges (a year of weeks on the chart).
MAX_ACTIVITY_DAYS = 366
#: Days a range may name: far enough around Stripe's lifetime, and far from the limits of
#: Python's dates (``end`` 0001-01-01 minus 29 days was a 500).
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
#: The visits chart's width in px: the page's content width beside the admin's sidebar.
CHART_WIDTH = 840
#: Currencies charted week by week (the largest run rates first); all have their cards.
MAX_CURRENCY_CHARTS = 3

_DATE_WIDGET = forms.DateInput(
    format="%Y-%m-%d",
    attrs={"placeholder": "YYYY-MM-DD", "size": 10, "pattern": r"\d{4}-\d{2}-\d{2}"},
)


def activity_view(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """The "Portal activity" page: the figures of ``django_stripe_portal.activity``
    for a chosen range, a chart first and the same figures in tables below it.

    A range that does not validate shows its error and no figures: a report of some
    other range under it would be read as the answer."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = ActivityRangeForm(request.GET or None)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": _("Portal activity"),
        "opts": model_admin.model._meta,
        "form": form,
        "time_zone": str(timezone.get_default_timezone()),
        "report": None,
    }
    if not form.is_bound or form.is_valid():
        activity_range = (
            form.activity_range() if form.is_bound else activity.ActivityRange.last_days(30)
        )
        customer_id = customer_id_for(form.cleaned_data["customer"]) if form.is_bound else ""
        with without_jit():
            context.update(_figures(activity_range, customer_id))
    return TemplateResponse(request, "admin/django_stripe_portal/portal_activity.html", context)


def _figures(activity_range: activity.ActivityRange, customer_id: str) -> dict[str, Any]:
    parts = range_parts(activity_range)  # its settled days read once for every figure
    figures = range_figures(activity_range, parts)  # the report, the weeks, the money's
    report = report_of(activity_range, figures)
    weeks = weeks_of(activity_range, figures.days)
    weekly = activity.weekly.is_long(activity_range)
    periods = (
        [_Period(week.start, week.end, week.visits, week.unique_customers) for week in weeks]
        if weekly
        else [_Period(d.day, d.day, d.visits, d.unique_customers) for d in report.per_day]
    )
    chart_title = (
        _("Visits and unique customers per week")
        if weekly
        else _("Visits and unique customers per day")
    )
    return {
        **_money(activity_range, weeks, parts),
        "report": report,
        "weekly": weekly,
        "periods": periods,
        "chart_title": chart_title,
        "visits_chart": charts.line_chart(
            [short_date(period.start) for period in periods],
            [
                charts.Series(str(_("visits")), [period.visits for period in periods]),
                charts.Series(
                    str(_("unique customers")), [period.unique_customers for period in periods]
                ),
            ],
            title=str(chart_title),
            width=CHART_WIDTH,
            height=320,
        ),
        "outcomes_chart": charts.bar_chart(
            [(str(row.label), row.visits) for row in report.outcomes],
            title=str(_("Visits by what they ended in")),
            width=CHART_WIDTH,
        ),
        "reasons": [
            (labels.feedback_label(reason.feedback), reason)
            for reason in report.cancellation_reasons
        ],
        "customer_id": customer_id,
        "customer_label": customer_labels([customer_id]).get(customer_id, customer_id),
        "history": (
            [
                (entry, _change_words(entry.changes))
                for entry in activity.customer_history(customer_id, activity_range)
            ]
            if customer_id
            else None
        ),
    }


def _money(
    activity_range: activity.ActivityRange,
    weeks: list[activity.WeekActivity],
    parts: RangeParts,
) -> dict[str, Any]:
    """The money cards (one per currency) and the two weekly charts."""
    money = range_money(activity_range, parts)  # read once: the cards and the charts
    revenue = revenue_of(activity_range, money)
    weekly = weekly_money(activity_range, weeks, money)
    week_labels = [short_date(week.start) for week in weekly.churn]
    movement_charts = [
        (
            currency,
            charts.line_chart(
                week_labels,
                [
                    charts.Series(str(_("lost")), [_major(w.lost, currency) for w in weeks]),
                    charts.Series(str(_("gained")), [_major(w.gained, currency) for w in weeks]),
                    charts.Series(str(_("saved")), [_major(w.saved, currency) for w in weeks]),
                ],
                title=str(_("Run rate moved in portal visits, per week (%(currency)s a month)"))
                % {"currency": currency.upper()},
                width=CHART_WIDTH,
                height=260,
            ),
        )
        for currency, weeks in list(weekly.movements.items())[:MAX_CURRENCY_CHARTS]
    ]
    return {
        "revenue": revenue,
        "money_cards": [_cards(entry) for entry in revenue.currencies],
        "movement_charts": movement_charts,
        "churn_chart": charts.line_chart(
            week_labels,
            [
                charts.Series(str(_("portal visits")), [w.visits for w in weekly.churn]),
                charts.Series(str(_("cancellations")), [w.cancellations for w in weekly.churn]),
            ],
            title=str(_("Portal visits and cancellations per week")),
            width=CHART_WIDTH,
            height=260,
        ),
    }


def _major(amount: int, currency: str) -> int:
    """Whole major units for a chart's axis."""
    return round(to_major(amount, currency))


def _cards(entry: activity.CurrencyRevenue) -> dict[str, Any]:
    money = {
        name: format_money(getattr(entry, name), entry.currency)
        for name in ("mrr", "saved", "discount_cost", "canceled", "contraction", "expansion")
    }
    lost = entry.canceled + entry.contraction + entry.paused
    gained = entry.expansion + entry.reactivated
    share = entry.portal_share
    return {
        "entry": entry,
        **money,
        "lost": format_money(lost, entry.currency),
        "gained": format_money(gained, entry.currency),
        "reactivated": format_money(entry.reactivated, entry.currency),
        "paused": format_money(entry.paused, entry.currency),
        "at_risk": format_money(entry.at_risk, entry.currency),
        "share": None if share is None else round(share * 100),
        "reasons": [
            (
                r.description or labels.feedback_label(r.reason) or r.reason,
                r,
                format_money(r.monthly_amount, entry.currency),
            )
            for r in entry.canceled_by_reason
        ],
    }


@dataclass(frozen=True)
class _Period:
    """One row of the chart and its table: a day, or a week (cut to the range)."""

    start: dt.date
    end: dt.date
    visits: int
    unique_customers: int


def _change_words(changes: Sequence[Any]) -> list[str]:
    """What one visit changed, in words, each once; a cancellation with its feedback."""
    words: list[str] = []
    for change in changes:
        text = labels.change_kind_label(change.change_kind)
        feedback = getattr(change, "feedback", None)
        if feedback and change.change_kind in labels.CANCELLATION_KINDS:
            text = f"{text} ({labels.feedback_label(feedback)})"
        if text and text not in words:
            words.append(text)
    return words


class ActivityRangeForm(forms.Form):
    """The range, configuration and (optionally) customer the activity page shows."""

    # Text, not type="date": the browser would show its locale's format (11/05/2026) on a
    # page whose dates are all 2026-11-05.
    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=_DATE_WIDGET)
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=_DATE_WIDGET)
    configuration = forms.ChoiceField(required=False)
    customer = forms.CharField(
        required=False,
        max_length=255,
        help_text=_("A customer id (cus_…), email or username, to list their visits."),
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
        for day in (end, cleaned.get("start")):
            if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
                raise forms.ValidationError(
                    _("Choose days between %(first)s and %(last)s.")
                    % {"first": EARLIEST_DAY.isoformat(), "last": LATEST_DAY.isoformat()}
                )
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
