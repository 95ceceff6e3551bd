"""``manage.py portal_activity``: the activity figures (or, with ``--at-risk``, the
customers at risk) as a table, CSV or JSON.

The JSON layout is versioned and documented (docs/activity.md) so that other
tools can read it; the CSV is one long table (section, key, metric, value), or one
row per signal for ``--at-risk``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper

from django_stripe_portal import activity
from django_stripe_portal.conf import SETTING_NAME, get_settings
from django_stripe_portal.customer_labels import customer_labels
from django_stripe_portal.customer_search import customer_id_for
from django_stripe_portal.management.base import PortalCommand
from django_stripe_portal.management.closed_pipe import stop_quietly_when_the_reader_goes
from django_stripe_portal.management.exports import SafeCSVWriter, text_table
from django_stripe_portal.management.revenue_output import write_revenue
from django_stripe_portal.models import PortalConfiguration
from django_stripe_portal.money_format import format_money
from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE
from django_stripe_portal.webhooks.payload import id_of

FORMATS = ("table", "csv", "json")
#: What ``--account`` takes for the platform's own customers (account "").
PLATFORM_NAME = "platform"


class Command(PortalCommand):
    help = (
        "Portal visits per day, unique customers, return rate, and what customers changed "
        "during their visits, for the last N days (days counted in TIME_ZONE)."
    )

    uses_stripe_api = False  # reads the database only: runs without API_KEY

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=30, help="days up to and including today (default 30)"
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default="table",
            help="table (default): for people; csv or json: for other tools (docs/activity.md)",
        )
        parser.add_argument(
            "--configuration",
            metavar="KEY",
            help="only visits made with this configuration (its key in CONFIGURATIONS)",
        )
        parser.add_argument(
            "--account",
            metavar="ACCT",
            help="only visits on this connected account (acct_…), or 'platform' for the "
            "platform's own customers (default: every account)",
        )
        parser.add_argument(
            "--at-risk",
            action="store_true",
            help="list the customers at risk instead (visit reasons look back --days days)",
        )
        parser.add_argument(
            "--revenue",
            action="store_true",
            help="what the portal is worth per currency over the --days days: run rate, "
            "canceled, contraction, expansion, reactivated, paused, saved, at risk",
        )
        parser.add_argument(
            "--customer",
            metavar="CUSTOMER",
            help="also list this customer's visits in the range, with their changes: a "
            "customer id (cus_…), or the email or username of the linked user",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["at_risk"]:
            try:
                customers = activity.customers_at_risk(
                    options["days"], account=_checked_account(options["account"])
                )
            except ValueError as exc:
                raise CommandError(f"--days: {exc}") from exc
            write_at_risk(self.stdout, customers, options["format"])
            return
        key = options["configuration"]
        if key is not None and not PortalConfiguration.objects.filter(key=key).exists():
            raise CommandError(_unsynced_configuration(key))
        account = _checked_account(options["account"])
        try:
            activity_range = activity.ActivityRange.last_days(options["days"], key, account=account)
        except ValueError as exc:
            raise CommandError(f"--days: {exc}") from exc
        if options["revenue"]:
            revenue = activity.revenue_report(
                activity_range.start, activity_range.end, account=account, configuration=key
            )
            with stop_quietly_when_the_reader_goes():
                write_revenue(self.stdout, revenue, options["format"])
            return
        report = activity.activity_report(activity_range)
        customer = customer_id_for(options["customer"] or "")
        history = activity.customer_history(customer, activity_range) if customer else None
        self._customer = customer_labels([customer]).get(customer, customer)
        with stop_quietly_when_the_reader_goes():
            if options["format"] == "json":
                self._write_json(report, history)
            elif options["format"] == "csv":
                self._write_csv(report, history)
            else:
                self._writetext_table(report, history)

    def _write_json(
        self, report: activity.ActivityReport, history: list[activity.VisitHistory] | None
    ) -> None:
        data = report.as_dict()
        if history is not None:
            data["customer_history"] = [_history_entry(entry, self._customer) for entry in history]
        self.stdout.write(json.dumps(data, indent=2))

    def _write_csv(
        self, report: activity.ActivityReport, history: list[activity.VisitHistory] | None
    ) -> None:
        writer = SafeCSVWriter(self.stdout)
        writer.writerow(["section", "key", "metric", "value"])
        data = report.as_dict()
        for metric, value in data["summary"].items():
            writer.writerow(["summary", "", metric, "" if value is None else value])
        for day in data["per_day"]:
            writer.writerow(["day", day["date"], "visits", day["visits"]])
            writer.writerow(["day", day["date"], "unique_customers", day["unique_customers"]])
        for outcome in data["outcomes"]:
            writer.writerow(["outcome", outcome["outcome"], "visits", outcome["visits"]])
        for reason in data["cancellation_reasons"]:
            key = "/".join(filter(None, [reason["feedback"], reason["feedback_option"]]))
            writer.writerow(["cancellation_reason", key, "cancellations", reason["cancellations"]])
        for offer in data["retention_offers"]:
            for metric in ("offers", "accepted", "save_rate"):
                value = "" if offer[metric] is None else offer[metric]
                writer.writerow(["retention_offer", offer["coupon"], metric, value])
        for entry in history or []:
            visit = _history_entry(entry, self._customer)
            kinds = " ".join(change["change_kind"] for change in visit["changes"])
            writer.writerow(["customer_visit", visit["visit"], "customer", visit["customer"]])
            writer.writerow(["customer_visit", visit["visit"], "changes", kinds])

    def _writetext_table(
        self, report: activity.ActivityReport, history: list[activity.VisitHistory] | None
    ) -> None:
        data = report.as_dict()
        period = data["range"]
        scope = period["configuration"] or "all configurations"
        if period["account"] is not None:
            scope += ", " + (period["account"] or "the platform")
        write = self.stdout.write
        write(
            f"Portal activity {period['start']} to {period['end']} "
            f"(days in {period['time_zone']}), {scope}\n\n"
        )
        summary = data["summary"]
        rate = summary["return_rate"]
        rate_text = "-" if rate is None else f"{rate * 100:.1f} %"
        rows = [
            ("Visits", summary["visits"]),
            ("Unique customers", summary["unique_customers"]),
            ("Came back to the app", summary["returned"]),
            ("Return rate", rate_text),
            ("Visits with a change", summary["changed"]),
            ("Abandoned (no return, no change)", summary["abandoned"]),
        ]
        write(text_table(("", ""), rows))
        per_day = [(d["date"], d["visits"], d["unique_customers"]) for d in data["per_day"]]
        write(text_table(("Day", "Visits", "Unique customers"), per_day))
        outcomes = [(o["label"], o["visits"]) for o in data["outcomes"]]
        write(text_table(("Outcome (a visit counts under each kind it made)", "Visits"), outcomes))
        reasons = [(_reason_text(r), r["cancellations"]) for r in data["cancellation_reasons"]]
        write(text_table(("Cancellation feedback", "Cancellations"), reasons or [("(none)", 0)]))
        offers = [
            (
                o["coupon"],
                o["offers"],
                o["accepted"],
                "-" if o["save_rate"] is None else f"{o['save_rate'] * 100:.1f} %",
            )
            for o in data["retention_offers"]
        ]
        write(
            text_table(
                ("Retention coupon", "Offers", "Accepted", "Save rate"),
                offers or [("(no offer made)", 0, 0, "-")],
            )
        )
        if history is not None:
            visits = []
            write(f"Visits of {self._customer}\n")
            for entry in history:
                visit = _history_entry(entry, self._customer)
                changes = ", ".join(c["change_kind"] for c in visit["changes"]) or "nothing"
                returned = "yes" if visit["returned_at"] else "no"
                visits.append((visit["visit"], visit["created_at"], returned, changes))
            write(text_table(("Visit", "Started", "Came back", "Changes"), visits))


def _checked_account(value: str | None) -> str | None:
    if value is None:
        return None
    if value == PLATFORM_NAME:
        return ""
    if not ACCOUNT_ID_RE.fullmatch(value):
        raise CommandError(
            f"--account {value!r}: give a connected account id (acct_…) or {PLATFORM_NAME!r}."
        )
    return value


def _unsynced_configuration(key: str) -> str:
    """Why ``--configuration KEY`` finds no configuration, and what to run."""
    declared = sorted(get_settings().CONFIGURATIONS or {})
    synced = sorted(set(PortalConfiguration.objects.values_list("key", flat=True)))
    if key in declared:
        return (
            f"--configuration {key!r}: the configuration is declared but has not been synced "
            "to Stripe yet, so no visit used it. Run `manage.py sync_portal_configs` first."
        )
    return (
        f"--configuration {key!r}: no such key in {SETTING_NAME}['CONFIGURATIONS'] "
        f"(declared: {', '.join(declared) or 'none'}; synced: {', '.join(synced) or 'none'})."
    )


def _history_entry(entry: activity.VisitHistory, customer: str) -> dict[str, Any]:
    """One visit of ``--customer``; ``customer`` is the person's label (CUSTOMER_LABEL)."""
    visit = entry.visit
    return {
        "visit": visit.stripe_id,
        "customer": customer,
        "customer_id": visit.customer_id,
        "created_at": visit.created_at.isoformat(),
        "returned_at": visit.returned_at.isoformat() if visit.returned_at else None,
        "configuration": visit.configuration.key if visit.configuration else None,
        "changes": [
            {
                "event": change.stripe_id,
                "type": change.type,
                "change_kind": change.change_kind,
                "created_at": change.created_at.isoformat(),
                "feedback": getattr(change, "feedback", None),
                "feedback_option": id_of(getattr(change, "feedback_option", None)) or None,
            }
            for change in entry.changes
        ],
    }


def write_at_risk(out: OutputWrapper, customers: list[activity.AtRiskCustomer], fmt: str) -> None:
    """The customers at risk: JSON (``{"version", "customers": [...]}``), CSV (one row per
    signal) or a table (one row per customer, newest signal first)."""
    if fmt == "json":
        data = {
            "version": activity.REPORT_VERSION,
            "customers": [customer.as_dict() for customer in customers],
        }
        out.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt == "csv":
        writer = SafeCSVWriter(out)
        writer.writerow(
            [
                "customer_id",
                "customer",
                "monthly_amount",
                "currency",
                "reason",
                "at",
                "subscription",
                "status",
                "cancels_at",
                "visits",
            ]
        )
        for customer in customers:
            for signal in customer.signals:
                writer.writerow(
                    [
                        customer.customer_id,
                        customer.customer or customer.customer_id,
                        "" if customer.monthly_amount is None else customer.monthly_amount,
                        customer.currency,
                        signal.reason,
                        signal.at.isoformat(),
                        signal.subscription_id,
                        signal.status,
                        signal.cancels_at.isoformat() if signal.cancels_at else "",
                        " ".join(signal.visits),
                    ]
                )
        return
    rows = [
        (
            customer.customer or customer.customer_id,
            format_money(customer.monthly_amount, customer.currency, per_month=True),
            customer.latest_signal_at.strftime("%Y-%m-%d %H:%M"),
            "; ".join(f"{signal.label} ({_based_on(signal)})" for signal in customer.signals),
        )
        for customer in customers
    ]
    out.write(f"Customers at risk: {len(customers)}\n\n")
    header = ("Customer", "Run rate at stake", "Latest signal", "Reasons (what they rest on)")
    out.write(text_table(header, rows))


def _based_on(signal: activity.RiskSignal) -> str:
    if signal.reason == "cancel_scheduled":
        ends = signal.cancels_at.strftime("%Y-%m-%d") if signal.cancels_at else "?"
        return f"{signal.subscription_id} ends {ends}"
    if signal.reason == "payment_trouble":
        return f"{signal.subscription_id} {signal.status}"
    return f"{len(signal.visits)} visit(s): {', '.join(signal.visits)}"


def _reason_text(reason: dict[str, Any]) -> str:
    option = reason["feedback_option_description"] or reason["feedback_option"]
    parts = [part for part in (option, reason["feedback"]) if part]
    return " · ".join(parts) or "(no reason given)"
