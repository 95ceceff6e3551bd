"""Every signal the app sends, in one place.

Webhook signals are sent with ``sender=WebhookEvent``, the session ones with
``sender=PortalSession``. Every receiver gets ``event`` (the ``WebhookEvent``
row, or None where there is none) and ``data`` (the event's ``data.object``).

Domain signals speak of what is true now: an event older than the stored state (a late
subscription event) sends none, only ``webhook_received`` and its per-type signal, with
``stale=True`` (docs/webhooks.md has the one exception, a late deletion).
"""

from __future__ import annotations

from collections.abc import Callable
from threading import Lock
from typing import Any, TypeVar

from django.dispatch import Signal

#: Every verified event, each time it is dispatched. Extra: ``stale`` (True for an event
#: older than the stored state: it sends no domain signal).
webhook_received = Signal()

#: A portal session was created, by this app or elsewhere. Extra: ``portal_session``.
portal_session_created = Signal()

#: The user came back through the return link. Extra: ``portal_session``.
portal_session_returned = Signal()

#: The price of a subscription's items changed.
#: Extra: ``subscription``, ``previous_prices``, ``new_prices``.
subscription_plan_changed = Signal()

#: The quantity of a subscription's items changed.
#: Extra: ``subscription``, ``previous_quantity``, ``new_quantity``.
subscription_quantity_changed = Signal()

#: ``cancel_at_period_end`` or ``cancel_at`` became set.
#: Extra: ``subscription``, ``cancellation_details``.
subscription_cancel_scheduled = Signal()

#: A scheduled cancellation was undone. Extra: ``subscription``.
subscription_reactivated = Signal()

#: ``customer.subscription.deleted``. Extra: ``subscription``, ``cancellation_details``.
subscription_canceled = Signal()

#: Collection paused: status ``paused`` (``customer.subscription.paused``) or
#: ``pause_collection`` set on an update (the status stays ``active``).
#: Extra: ``subscription``, ``resumes_at`` (an aware datetime, or None: until resumed).
subscription_paused = Signal()

#: The pause ended: ``customer.subscription.resumed`` or ``pause_collection`` cleared.
#: Extra: ``subscription``, ``resumes_at`` (always None: it has resumed).
subscription_resumed = Signal()

#: A visit that offered a retention coupon ended with the subscription carrying it
#: (``customer.discount.created``) and no cancellation scheduled.
#: Extra: ``subscription``, ``coupon``, ``portal_session``.
retention_offer_accepted = Signal()

#: A card or other payment method was attached, detached or made the default.
#: Extra: ``customer_id``.
payment_method_changed = Signal()

#: ``customer.updated`` (address, email, phone, shipping, tax exempt) or ``customer.tax_id.*``.
#: Extra: ``customer_id``, ``previous_attributes``.
customer_details_changed = Signal()

#: ``billing_portal.configuration.created``/``updated``.
#: Extra: ``configuration``, ``drifted`` (it differs from the declared settings).
portal_configuration_changed = Signal()

#: A customer's active entitlements changed (``entitlements.active_entitlement_summary.updated``).
#: Extra: ``customer_id``, ``added``, ``removed`` (frozensets of features' lookup keys).
entitlements_changed = Signal()

#: Task mode: an event's last scheduled attempt failed and nothing will retry it.
#: Extra: ``error`` (what ``last_error`` keeps).
webhook_gave_up = Signal()

_event_signals: dict[str, Signal] = {}
_event_signals_lock = Lock()

ReceiverT = TypeVar("ReceiverT", bound=Callable[..., Any])


def event_signal(event_type: str) -> Signal:
    """The signal sent for every stored event of ``event_type`` (created on first use)."""
    signal = _event_signals.get(event_type)
    if signal is None:
        with _event_signals_lock:
            signal = _event_signals.setdefault(event_type, Signal())
    return signal


def connected_event_signal(event_type: str) -> Signal | None:
    """The per-type signal if anything ever asked for it; spares the hot path a dict insert."""
    return _event_signals.get(event_type)


def event_types_with_receivers() -> list[str]:
    """The event types something connected a per-type receiver to (with :func:`on` or
    :func:`event_signal`): ``fetch_stripe_events`` lists those too, beside the app's own."""
    return sorted(name for name, signal in list(_event_signals.items()) if signal.receivers)


def on(event_type: str, **connect_kwargs: Any) -> Callable[[ReceiverT], ReceiverT]:
    """Connect the decorated function to one event type::

    @on("customer.subscription.updated")
    def sync_plan(sender, event, data, **kwargs): ...
    """

    def decorator(func: ReceiverT) -> ReceiverT:
        event_signal(event_type).connect(func, **connect_kwargs)
        return func

    return decorator
