"""The minimal portal page behind a session URL: cancel, renew, switch plan, "update card".

Each action changes the stand-in's state, delivers the events Stripe would send
(and waits for the site to accept them), then sends the customer back through
the session's ``return_url``, as the real portal's "Return to …" link does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from stripe_standin import churn, entitlements, objects
from stripe_standin.state import LIVE_STATUSES, StandinError, StandinState
from stripe_standin.webhooks import Delivery

DELIVERY_WAIT_SECONDS = 20
_UPDATED = "customer.subscription.updated"


@dataclass
class PageAnswer:
    status: int
    html: str = ""
    location: str | None = None


def _date(timestamp: int | None) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%d %b %Y")


def _money(cents: int | None) -> str:
    return f"${(cents or 0) / 100:,.2f}"


class PortalPage:
    def __init__(self, state: StandinState, emit: Callable[[dict[str, Any]], Delivery]) -> None:
        self.state = state
        self.emit = emit

    # --- GET -------------------------------------------------------------------------

    def show(self, secret: str, notice: str = "") -> PageAnswer:
        session = self.state.session_by_secret(secret)
        if session is None:
            return PageAnswer(404, _layout("Link expired", "<p>This portal link is not valid.</p>"))
        config = self.state.get("configurations", session["configuration"])
        customer = self.state.get("customers", session["customer"])
        features = config["features"]
        flow_type = (session.get("flow") or {}).get("type")
        only = _flow_subscription(session)
        subscriptions = [
            sub
            for sub in self.state.all("subscriptions")
            if sub["customer"] == customer["id"]
            and sub["status"] in LIVE_STATUSES
            and (only is None or sub["id"] == only)
        ]
        parts = [f'<p class="notice">{escape(notice)}</p>' if notice else ""]
        headline = config["business_profile"].get("headline")
        if headline:
            parts.append(f"<h2>{escape(headline)}</h2>")
        who = customer.get("email") or customer["id"]
        parts.append(f"<p>Signed in as <b>{escape(who)}</b></p>")
        if flow_type in (None, "subscription_cancel", "subscription_update", "subscription_pause"):
            coupon = churn.offered_coupon(session)
            for sub in subscriptions:
                parts.append(self._subscription_block(sub, features, flow_type, coupon))
            if not subscriptions:
                parts.append("<p>No current subscription.</p>")
        if flow_type in (None, "payment_method_update") and (
            features["payment_method_update"]["enabled"] or flow_type == "payment_method_update"
        ):
            parts.append(self._card_block(customer))
        return_url = session.get("return_url")
        if return_url:
            link = f'<a id="return-link" href="{escape(return_url)}">Return to the site</a>'
            parts.append(f"<p>{link}</p>")
        return PageAnswer(200, _layout("Billing", "\n".join(parts)))

    def _subscription_block(
        self,
        sub: dict[str, Any],
        features: dict[str, Any],
        flow_type: str | None,
        coupon: str | None = None,
    ) -> str:
        item = sub["items"]["data"][0]
        product = self.state.get("products", item["price"]["product"])
        lines = [
            f'<section class="subscription" data-id="{escape(sub["id"])}">',
            f"<h3>{escape(product['name'])} — {_money(item['price']['unit_amount'])} a month</h3>",
            f"<p>Status: {escape(sub['status'])}</p>",
        ]
        scheduled = sub["cancel_at_period_end"] or sub["cancel_at"]
        if scheduled:
            lines.append(f"<p>Cancels on {_date(sub['cancel_at'])}.</p>")
            if flow_type is None:
                lines.append(_form("renew", sub["id"], "", "Renew plan"))
        else:
            lines.append(f"<p>Renews on {_date(item['current_period_end'])}.</p>")
        cancel = features["subscription_cancel"]
        if (
            not scheduled
            and flow_type in (None, "subscription_cancel")
            and (cancel["enabled"] or flow_type == "subscription_cancel")
        ):
            if coupon:
                offer = (
                    f'<p class="retention-offer">Before you go: stay and get the coupon '
                    f"<b>{escape(coupon)}</b> on your plan.</p>"
                )
                lines.append(offer + _form("accept_offer", sub["id"], "", "Accept the offer"))
            lines.append(_form("cancel", sub["id"], _reason_fields(cancel), "Cancel plan"))
        update = features["subscription_update"]
        if flow_type in (None, "subscription_update") and (
            update["enabled"] or flow_type == "subscription_update"
        ):
            choices = self._other_prices(update, item["price"]["id"])
            if choices:
                options = "".join(
                    f'<option value="{escape(p["id"])}">{escape(p["nickname"] or p["id"])} — '
                    f"{_money(p['unit_amount'])} a {escape(p['recurring']['interval'])}</option>"
                    for p in choices
                )
                select = f'<select name="price" id="price">{options}</select>'
                fields = f"<label>New plan {select}</label>"
                lines.append(_form("switch", sub["id"], fields, "Switch plan"))
        lines.append("</section>")
        return "\n".join(lines)

    def _other_prices(self, update: dict[str, Any], current_price: str) -> list[dict[str, Any]]:
        allowed = [price for product in update.get("products") or [] for price in product["prices"]]
        prices = self.state.all("prices")
        return [
            price
            for price in sorted(prices, key=lambda p: p["unit_amount"] or 0)
            if price["id"] != current_price and (not allowed or price["id"] in allowed)
        ]

    def _card_block(self, customer: dict[str, Any]) -> str:
        default = customer["invoice_settings"]["default_payment_method"]
        current = "none on file"
        if default:
            card = self.state.get("payment_methods", default)["card"]
            current = f"{card['brand']} ending {card['last4']}"
        fields = (
            '<label>Card number <input name="card_number" id="card_number" '
            'value="4242 4242 4242 4242" autocomplete="off"></label>'
        )
        return (
            '<section class="payment-method"><h3>Payment method</h3>'
            + f"<p>Current: {escape(current)}</p>"
            + _form("card", "", fields, "Update card")
            + "</section>"
        )

    # --- POST ------------------------------------------------------------------------

    def act(self, secret: str, form: dict[str, str]) -> PageAnswer:
        session = self.state.session_by_secret(secret)
        if session is None:
            return PageAnswer(404, _layout("Link expired", "<p>This portal link is not valid.</p>"))
        config = self.state.get("configurations", session["configuration"])
        customer_id = session["customer"]
        action = form.get("action", "")
        subscription_id = form.get("subscription", "")
        only = _flow_subscription(session)
        if only is not None and subscription_id and subscription_id != only:
            return self.show(secret, "This link is for another subscription.")
        try:
            events = self._apply(action, session, config, customer_id, subscription_id, form)
        except StandinError as exc:
            return self.show(secret, str(exc))
        recorded = [self.state.record_event(event) for event in events]
        recorded += entitlements.summary_events(self.state, recorded)
        deliveries = [self.emit(event) for event in recorded]
        for delivery in deliveries:
            delivery.done.wait(DELIVERY_WAIT_SECONDS)
        after = ((session.get("flow") or {}).get("after_completion") or {}).get("type")
        if after == "hosted_confirmation":
            return self._confirmation(session)
        target = _after_completion_url(session) if after != "portal_homepage" else None
        if target:
            return PageAnswer(303, location=target)
        return self.show(secret, "Done.")

    def _confirmation(self, session: dict[str, Any]) -> PageAnswer:
        """Stripe's confirmation page (``after_completion.type = hosted_confirmation``)."""
        flow = session.get("flow") or {}
        custom = ((flow.get("after_completion") or {}).get("hosted_confirmation") or {}).get(
            "custom_message"
        )
        parts = [f'<p class="confirmation">{escape(custom or "Your changes have been saved.")}</p>']
        if session.get("return_url"):
            link = (
                f'<a id="return-link" href="{escape(session["return_url"])}">Return to the site</a>'
            )
            parts.append(f"<p>{link}</p>")
        return PageAnswer(200, _layout("All done", "\n".join(parts)))

    def _apply(
        self,
        action: str,
        session: dict[str, Any],
        config: dict[str, Any],
        customer_id: str,
        subscription_id: str,
        form: dict[str, str],
    ) -> list[dict[str, Any]]:
        features = config["features"]
        if action == "cancel":
            cancel = features["subscription_cancel"]
            reasons = cancel["cancellation_reason"]
            picked = form.get("reason") or None
            custom = reasons.get("feedback_options") or []
            if reasons["enabled"] and picked not in [*reasons["options"], *custom]:
                raise StandinError("Please choose a reason.")
            feedback = picked if reasons["enabled"] and picked in reasons["options"] else None
            event_type, sub, previous = self.state.cancel_subscription(
                customer_id,
                subscription_id,
                feedback=feedback,
                feedback_option=picked if reasons["enabled"] and picked in custom else None,
                comment=(form.get("comment") or "").strip()[:500] or None,
                immediately=cancel["mode"] == "immediately",
            )
            return [objects.event(event_type, sub, previous_attributes=previous)]
        if action == "accept_offer":
            coupon = churn.offered_coupon(session)
            if not coupon:
                raise StandinError("This link makes no offer.")
            created = churn.coupon_created(self.state, coupon)
            discount, sub, previous = churn.apply_coupon(
                self.state, customer_id, subscription_id, coupon
            )
            return [
                *([objects.event("coupon.created", created)] if created else []),
                objects.event("customer.discount.created", discount),
                objects.event(_UPDATED, sub, previous_attributes=previous),
            ]
        if action in ("renew", "switch"):
            if action == "renew":
                sub, previous = self.state.renew_subscription(customer_id, subscription_id)
            else:
                new_price = form.get("price", "")
                sub, previous = self.state.switch_price(customer_id, subscription_id, new_price)
            return [objects.event(_UPDATED, sub, previous_attributes=previous)]
        if action == "card":
            digits = "".join(ch for ch in form.get("card_number", "") if ch.isdigit())
            if len(digits) < 12:
                raise StandinError("That card number is too short (try 4242 4242 4242 4242).")
            year = dt.datetime.now(tz=dt.UTC).year + 3
            card, customer, previous = self.state.attach_card(customer_id, digits[-4:], 12, year)
            return [
                objects.event("payment_method.attached", card),
                objects.event("customer.updated", customer, previous_attributes=previous),
            ]
        raise StandinError(f"Unknown action {action!r}.")


def _flow_subscription(session: dict[str, Any]) -> str | None:
    flow = session.get("flow") or {}
    detail = flow.get(flow.get("type") or "") or {}
    return detail.get("subscription") if isinstance(detail, dict) else None


def _after_completion_url(session: dict[str, Any]) -> str | None:
    flow = session.get("flow") or {}
    redirect = (flow.get("after_completion") or {}).get("redirect") or {}
    return redirect.get("return_url") or session.get("return_url")


def _reason_fields(cancel: dict[str, Any]) -> str:
    reasons = cancel["cancellation_reason"]
    if not reasons["enabled"]:
        return ""
    options = "".join(
        f'<option value="{escape(option)}">{escape(option.replace("_", " "))}</option>'
        for option in reasons["options"]
    ) + "".join(
        f'<option value="{escape(option_id)}">'
        f"{escape(churn.FEEDBACK_OPTIONS.get(option_id, option_id))}</option>"
        for option_id in reasons.get("feedback_options") or []
    )
    return (
        '<label>Why are you cancelling? <select name="reason" id="reason">'
        f'<option value="">Choose…</option>{options}</select></label>'
        '<label>Anything else? <input name="comment" id="comment"></label>'
    )


def _form(action: str, subscription_id: str, fields: str, label: str) -> str:
    return (
        f'<form method="post" class="action-{action}">'
        f'<input type="hidden" name="action" value="{action}">'
        f'<input type="hidden" name="subscription" value="{escape(subscription_id)}">'
        f'{fields}<button type="submit">{escape(label)}</button></form>'
    )


def _layout(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · Stripe stand-in</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#1a1f36}}
.banner{{background:#fff4d6;border:1px solid #e6c35c;padding:.5rem .75rem;border-radius:6px}}
section{{border:1px solid #e3e8ee;border-radius:8px;padding:1rem;margin:1rem 0}}
form{{margin:.5rem 0}} label{{display:block;margin:.25rem 0}}
button{{background:#635bff;color:#fff;border:0;border-radius:6px;padding:.4rem .9rem}}
.notice{{background:#e8f5e9;padding:.5rem}}
</style></head>
<body><p class="banner">Offline demo: this page is the example project's <b>stand-in</b>
for Stripe's customer portal, not Stripe.</p>
<h1>{escape(title)}</h1>
{body}
</body></html>"""
