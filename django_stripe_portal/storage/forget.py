"""``forget_stripe_customer``: remove one customer's personal data from what the app stored.

Personal values (names, emails, addresses, phones, tax ids, free text) are set to ``None``
wherever :data:`PERSONAL_KEYS` name them in the stored payloads of that customer's events,
and in the rows: a visit's ``return_to``, a subscription's cancellation ``comment``. Ids,
statuses, times, amounts, Stripe's feedback enums and every column the figures read stay, so
the figures are the same afterwards. Stripe keeps its own copy (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent

BATCH_SIZE = 500

#: Keys whose values are about a person, wherever they appear in a stored payload.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "email",
        "phone",
        "address",
        "shipping",
        "description",
        "comment",
        "metadata",
        "business_name",
        "individual_name",
        "billing_details",
        "customer_details",
        "customer_name",
        "customer_email",
        "customer_phone",
        "customer_address",
        "customer_shipping",
        "customer_tax_ids",
        "receipt_email",
        "tax_ids",
        "custom_fields",
        "footer",
        "tax_id",
    }
)


@dataclass(frozen=True)
class ForgetResult:
    events: int
    values: int
    sessions: int
    subscriptions: int


def redacted(value: Any) -> tuple[Any, int]:
    """``value`` with every personal value set to None, and how many were (a copy)."""
    if isinstance(value, list):
        items = [redacted(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if not isinstance(value, dict):
        return value, 0
    out: dict[str, Any] = {}
    count = 0
    tax_id = value.get("object") == "tax_id"
    for key, item in value.items():
        if (key in PERSONAL_KEYS or (tax_id and key == "value")) and item not in (None, "", {}):
            out[key], count = None, count + 1
        else:
            out[key], inner = redacted(item)
            count += inner
    return out, count


def _events_of(customer_id: str, account: str | None) -> Any:
    about = (
        Q(customer_id=customer_id)
        | Q(payload__data__object__customer=customer_id)
        | Q(payload__data__object__id=customer_id)
    )
    events = WebhookEvent.objects.filter(about)
    return events if account is None else events.filter(account=account)


def forget_customer(
    customer_id: str, *, account: str | None = None, dry_run: bool = False
) -> ForgetResult:
    """Clear the customer's personal values (on ``account`` only, when given); with
    ``dry_run`` only count them. Events go in batches by primary key, each batch in its
    own short transaction under the rows' locks."""
    events = values = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                _events_of(customer_id, account)
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update()
                .only("pk", "payload")[:BATCH_SIZE]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            changed = []
            for row in batch:
                row.payload, count = redacted(row.payload)
                if count:
                    changed.append(row)
                    values += count
            events += len(changed)
            if changed and not dry_run:
                WebhookEvent.objects.bulk_update(changed, ["payload"])
    sessions = PortalSession.objects.filter(customer_id=customer_id).exclude(return_to="")
    subscriptions = StripeSubscription.objects.filter(
        customer_id=customer_id, cancellation_details__comment__isnull=False
    ).exclude(cancellation_details__comment=None)
    if account is not None:
        sessions = sessions.filter(account=account)
        subscriptions = subscriptions.filter(account=account)
    if dry_run:
        return ForgetResult(events, values, sessions.count(), subscriptions.count())
    forgotten_sessions = sessions.update(return_to="")
    forgotten_subscriptions = 0
    with transaction.atomic():
        for subscription in subscriptions.select_for_update():
            subscription.cancellation_details = {
                **(subscription.cancellation_details or {}),
                "comment": None,
            }
            subscription.save(update_fields=["cancellation_details"])
            forgotten_subscriptions += 1
    return ForgetResult(events, values, forgotten_sessions, forgotten_subscriptions)
