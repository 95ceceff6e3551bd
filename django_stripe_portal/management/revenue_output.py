"""``portal_activity --revenue``: the revenue report as a table, CSV or JSON.

JSON is ``RevenueReport.as_dict()`` (integer minor units, exact); CSV is one long table
(currency, metric, key, value) in minor units; the table shows major units with the
currency, for people."""

from __future__ import annotations

import json

from django.core.management.base import OutputWrapper

from django_stripe_portal.activity import RevenueReport
from django_stripe_portal.management.exports import SafeCSVWriter, text_table
from django_stripe_portal.money_format import format_money

#: The figures of one currency, in the order every format lists them.
METRICS = (
    ("mrr", "Run rate at the end (MRR)"),
    ("canceled", "Canceled in the portal"),
    ("contraction", "Contraction (downgrades)"),
    ("expansion", "Expansion (upgrades)"),
    ("reactivated", "Reactivated (cancellation undone)"),
    ("paused", "Paused"),
    ("saved", "Saved by retention offers"),
    ("discount_cost", "Their coupons' cost (over their duration)"),
    ("at_risk", "At risk at the end"),
    ("all_canceled", "All cancellations (portal or not)"),
)


def write_revenue(out: OutputWrapper, report: RevenueReport, fmt: str) -> None:
    data = report.as_dict()
    if fmt == "json":
        out.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt == "csv":
        writer = SafeCSVWriter(out)
        writer.writerow(["currency", "metric", "key", "value"])
        for entry in data["currencies"]:
            for metric, _ in METRICS:
                writer.writerow([entry["currency"], metric, "", entry[metric]])
            writer.writerow([entry["currency"], "portal_share", "", entry["portal_share"]])
            for reason in entry["canceled_by_reason"]:
                key = reason["reason"] or "(no reason given)"
                writer.writerow(
                    [entry["currency"], "canceled_by_reason", key, reason["monthly_amount"]]
                )
        return
    period = data["range"]
    out.write(
        f"Portal revenue {period['start']} to {period['end']} (days in "
        f"{period['time_zone']}; run rates per month, tax excluded; rules: docs/activity.md)\n\n"
    )
    if not data["currencies"]:
        out.write("No subscription with a known run rate.\n")
        return
    for entry in data["currencies"]:
        currency = entry["currency"]
        rows = [(label, format_money(entry[metric], currency)) for metric, label in METRICS]
        share = entry["portal_share"]
        rows.append(("Portal's share of cancellations", "-" if share is None else f"{share:.0%}"))
        out.write(text_table((currency.upper(), "per month"), rows))
        reasons = [
            (
                r["reason"] or "(no reason given)",
                r["cancellations"],
                format_money(r["monthly_amount"], currency),
            )
            for r in entry["canceled_by_reason"]
        ]
        if reasons:
            out.write(text_table(("Canceled because", "Cancellations", "Run rate"), reasons))
