"""What the stand-in does for the churn loop: custom cancellation reasons
(``billing.feedback_option``, expanded on request) and the cancel flow's retention
coupon, applied as Stripe applies it (a ``discount`` on the subscription).
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_standin.objects import new_id, now
from stripe_standin.state import StandinError, StandinState

#: The account's custom cancellation reasons, as made in the Dashboard.
FEEDBACK_OPTIONS = {
    "bfo_demo_setup": "Too hard to set up",
    "bfo_demo_team": "My team moved to another tool",
}
FEEDBACK_OPTIONS_PATH = "features.subscription_cancel.cancellation_reason.feedback_options"


def feedback_option(option_id: str) -> dict[str, Any]:
    if option_id not in FEEDBACK_OPTIONS:
        raise StandinError(f"No such feedback option: '{option_id}'", code="resource_missing")
    return {
        "id": option_id,
        "object": "billing.feedback_option",
        "description": FEEDBACK_OPTIONS[option_id],
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
    }


def option_ids(config: dict[str, Any]) -> list[str]:
    reasons = config["features"]["subscription_cancel"]["cancellation_reason"]
    return list(reasons.get("feedback_options") or [])


def check_options(config: dict[str, Any]) -> None:
    """Stripe refuses a configuration naming an option that does not exist."""
    for option_id in option_ids(config):
        feedback_option(option_id)


def expanded(config: dict[str, Any], expand: Any) -> dict[str, Any]:
    """The configuration as answered: its options expanded when ``expand[]`` asks."""
    paths = expand.values() if isinstance(expand, dict) else expand or []
    if FEEDBACK_OPTIONS_PATH not in paths:
        return config
    config = copy.deepcopy(config)
    reasons = config["features"]["subscription_cancel"]["cancellation_reason"]
    reasons["feedback_options"] = [feedback_option(o) for o in option_ids(config)]
    return config


def offered_coupon(session: dict[str, Any]) -> str | None:
    """The coupon the session's cancel flow offers (``flow.subscription_cancel.retention``)."""
    flow = session.get("flow") or {}
    cancel = flow.get("subscription_cancel") or {}
    retention = cancel.get("retention") or {}
    return (retention.get("coupon_offer") or {}).get("coupon")


#: The terms of the coupons the stand-in's merchant offers (any other id: 20 % forever).
COUPON_TERMS = {"DEMO_STAY25": {"percent_off": 25.0, "duration": "repeating", "months": 3}}


def coupon_created(state: StandinState, coupon_id: str) -> dict[str, Any] | None:
    """The coupon, the first time an offer uses it: the stand-in sends ``coupon.created``
    then, as Stripe does when the merchant creates it (in the Dashboard, before any
    offer), so the app knows the terms the discount names by id."""
    with state.changing():
        if coupon_id in state.data["coupons"]:
            return None
        terms = COUPON_TERMS.get(coupon_id, {"percent_off": 20.0, "duration": "forever"})
        coupon = {
            "id": coupon_id,
            "object": "coupon",
            "amount_off": None,
            "applies_to": None,
            "created": now(),
            "currency": None,
            "currency_options": None,
            "duration": terms["duration"],
            "duration_in_months": terms.get("months"),
            "livemode": False,
            "max_redemptions": None,
            "metadata": {},
            "name": coupon_id,
            "percent_off": terms["percent_off"],
            "redeem_by": None,
            "times_redeemed": 0,
            "valid": True,
        }
        state.data["coupons"][coupon_id] = coupon
        return copy.deepcopy(coupon)


def apply_coupon(
    state: StandinState, customer_id: str, subscription_id: str, coupon: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Accepting the offer: a new discount on the subscription. Returns the discount and
    the subscription with its ``previous_attributes``, for the two events Stripe sends."""
    with state.changing():
        sub = state.data["subscriptions"].get(subscription_id)
        if sub is None or sub["customer"] != customer_id:
            raise StandinError(f"No such subscription: '{subscription_id}'")
        discount = {
            "id": new_id("di"),
            "object": "discount",
            "checkout_session": None,
            "customer": customer_id,
            "customer_account": None,
            "end": None,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"type": "coupon", "coupon": coupon},
            "start": now(),
            "subscription": subscription_id,
            "subscription_item": None,
        }
        previous = {"discounts": list(sub.get("discounts") or [])}
        sub["discounts"] = [*previous["discounts"], discount["id"]]
        return discount, copy.deepcopy(sub), previous
