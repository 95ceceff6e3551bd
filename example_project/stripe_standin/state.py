"""The stand-in's memory: customers, catalogue, subscriptions, configurations, sessions.

Kept in a JSON file (when a path is given) so a demo restarted later still knows
the customers the example project's database links to. Every change returns the
events Stripe would send about it.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django_stripe_portal.configurations import stripe_defaults
from stripe_standin import objects
from stripe_standin.accounts import (
    CONNECTED_ACCOUNTS,
    PLATFORM,
    SCOPED_COLLECTIONS,
    acting_account,
    acting_as,
)
from stripe_standin.objects import new_id, now

MONTH = 30 * 86400

#: The demo catalogue: (product id, name, description, price id, lookup key, cents a month).
#: (product, name, description, price, lookup key, amount in cents, interval): real
#: amounts and a yearly plan, so the demo's run rates and revenue figures mean something.
CATALOGUE = (
    (
        "prod_demo_basic",
        "Basic",
        "For one person",
        "price_demo_basic",
        "demo_basic_monthly",
        900,
        "month",
    ),
    (
        "prod_demo_pro",
        "Pro",
        "For small teams",
        "price_demo_pro",
        "demo_pro_monthly",
        2900,
        "month",
    ),
    (
        "prod_demo_pro",
        "Pro yearly",
        "For small teams",
        "price_demo_pro_yearly",
        "demo_pro_yearly",
        29000,
        "year",
    ),
)


def _prices_by_product() -> dict[str, list[str]]:
    by_product: dict[str, list[str]] = {}
    for product_id, _, _, price_id, _, _, _ in CATALOGUE:
        by_product.setdefault(product_id, []).append(price_id)
    return by_product


#: The account's Dashboard default configuration, which sessions use when none is named.
DASHBOARD_CONFIGURATION_ID = "bpc_standin_dashboard_default"
#: What the kept state holds for a portal session's URL (a bearer credential).
URL_NOT_KEPT = "[not kept]"

_CANCELLATION_FIELDS = ("cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details")

LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused", "incomplete")

_COLLECTIONS = (
    "customers",
    "products",
    "prices",
    "subscriptions",
    "configurations",
    "sessions",
    "payment_methods",
    "events",
    "coupons",
)


class StandinError(Exception):
    """A request Stripe would refuse: becomes a Stripe-shaped error answer."""

    def __init__(
        self, message: str, *, status: int = 400, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


class StandinState:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, Any]] = {name: {} for name in _COLLECTIONS}
        #: session id → the secret in its URL (the URL itself is built by the server).
        self.session_secrets: dict[str, str] = {}
        #: object id → the connected account it belongs to (absent: the platform).
        self.owners: dict[str, str] = {}
        if path is not None and path.is_file():
            stored = json.loads(path.read_text())
            self.data.update(stored["data"])
            self.session_secrets = stored.get("session_secrets", {})
            self.owners = stored.get("owners", {})
        self._ensure_catalogue()

    # --- persistence ---------------------------------------------------------------

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a change and save the state afterwards."""
        with self.lock:
            yield
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps(
                {"data": self.data, "session_secrets": self.session_secrets, "owners": self.owners}
            )
        )
        temporary.replace(self.path)

    def _ensure_catalogue(self) -> None:
        with self.changing():
            for product_id, name, description, price_id, lookup_key, amount, interval in CATALOGUE:
                self.data["products"].setdefault(
                    product_id, objects.product(product_id, name, description)
                )
                self.data["prices"].setdefault(
                    price_id,
                    objects.price(
                        price_id,
                        product_id,
                        unit_amount=amount,
                        lookup_key=lookup_key,
                        nickname=name,
                        interval=interval,
                    ),
                )
            if DASHBOARD_CONFIGURATION_ID not in self.data["configurations"]:
                self.data["configurations"][DASHBOARD_CONFIGURATION_ID] = (
                    self._dashboard_configuration()
                )
            for account in CONNECTED_ACCOUNTS:
                # Each connected account has its own Dashboard default.
                config_id = f"{DASHBOARD_CONFIGURATION_ID}_{account.removeprefix('acct_')}"
                if config_id not in self.data["configurations"]:
                    with acting_as(account):
                        self._keep("configurations", self._dashboard_configuration(config_id))

    def _keep(self, collection: str, obj: dict[str, Any]) -> None:
        """Store a new object as belonging to the account the request acts as."""
        self.data[collection][obj["id"]] = obj
        account = acting_account()
        if account != PLATFORM:
            self.owners[obj["id"]] = account

    def _visible(self, collection: str, object_id: str) -> bool:
        """Whether the acting account sees this object (the catalogue: always)."""
        if collection not in SCOPED_COLLECTIONS:
            return True
        return self.owners.get(object_id, PLATFORM) == acting_account()

    def account_of(self, object_id: str) -> str:
        return self.owners.get(object_id, PLATFORM)

    def _dashboard_configuration(
        self, config_id: str = DASHBOARD_CONFIGURATION_ID
    ) -> dict[str, Any]:
        """What a newly saved Dashboard portal setting looks like: the common features on."""
        config = stripe_defaults.new_configuration({}, configuration_id=config_id, created=now())
        features = config["features"]
        features["invoice_history"]["enabled"] = True
        features["payment_method_update"]["enabled"] = True
        features["customer_update"] = {"allowed_updates": ["email", "address"], "enabled": True}
        features["subscription_cancel"].update(
            enabled=True,
            cancellation_reason={
                "enabled": True,
                "options": ["too_expensive", "missing_features", "unused", "other"],
            },
        )
        features["subscription_update"].update(
            enabled=True,
            default_allowed_updates=["price"],
            products=[
                stripe_defaults.portal_product({"prices": prices, "product": product_id})
                for product_id, prices in _prices_by_product().items()
            ],
        )
        config["is_default"] = True
        return config

    # --- reading -------------------------------------------------------------------

    def get(self, collection: str, object_id: str, *, param: str = "id") -> dict[str, Any]:
        with self.lock:
            found = self.data[collection].get(object_id)
            if found is not None and not self._visible(collection, object_id):
                found = None  # another account's object: Stripe says it does not exist
            if found is None:
                kind = collection.rstrip("s").replace("_", " ")
                # Stripe answers 404 for the object in the URL, 400 for one named by a parameter.
                raise StandinError(
                    f"No such {kind}: '{object_id}'",
                    status=404 if param == "id" else 400,
                    code="resource_missing",
                    param=param,
                )
            return copy.deepcopy(found)

    def all(self, collection: str) -> list[dict[str, Any]]:
        """Newest first, as Stripe lists."""
        with self.lock:
            rows = [
                copy.deepcopy(row)
                for row_id, row in self.data[collection].items()
                if self._visible(collection, row_id)
            ]
        return sorted(rows, key=lambda row: row.get("created", 0), reverse=True)

    def session_by_secret(self, secret: str) -> dict[str, Any] | None:
        with self.lock:
            for session_id, known in self.session_secrets.items():
                if secrets.compare_digest(known, secret):
                    session: dict[str, Any] = copy.deepcopy(self.data["sessions"][session_id])
                    return session
        return None

    def record_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Keep ``event`` (answered by ``GET /v1/events``) and return it to be delivered.

        A portal session's URL is a bearer credential: the delivered event carries it,
        as Stripe's does, but the kept copy holds ``URL_NOT_KEPT`` (the field is a
        required string in Stripe's schema), like the kept session itself.
        """
        if acting_account() != PLATFORM:
            event["account"] = acting_account()  # a Connect event
        kept = event
        obj = event["data"]["object"]
        if obj.get("object") == "billing_portal.session" and obj.get("url"):
            kept = copy.deepcopy(event)
            kept["data"]["object"]["url"] = URL_NOT_KEPT
        with self.changing():
            self._keep("events", kept)
        return event

    # --- customers and subscriptions ----------------------------------------------

    def create_customer(self, *, email: str | None, name: str | None) -> dict[str, Any]:
        with self.changing():
            created = objects.customer(new_id("cus"), email=email, name=name)
            self._keep("customers", created)
        return copy.deepcopy(created)

    def create_subscription(self, customer_id: str, items: list[tuple[str, int]]) -> dict[str, Any]:
        if not items:
            raise StandinError(
                "Missing required param: items.", code="parameter_missing", param="items"
            )
        with self.changing():
            customer = self.get("customers", customer_id, param="customer")
            sub_id = new_id("sub")
            started = now()
            period = (started, started + MONTH)
            sub_items = [
                objects.subscription_item(
                    sub_id, self.get("prices", price_id, param="items[0][price]"), quantity, period
                )
                for price_id, quantity in items
            ]
            created = objects.subscription(
                sub_id,
                customer_id,
                sub_items,
                started=started,
                default_payment_method=customer["invoice_settings"]["default_payment_method"],
            )
            self._keep("subscriptions", created)
        return copy.deepcopy(created)

    def _live_subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        sub = self.data["subscriptions"].get(subscription_id)
        visible = self._visible("subscriptions", subscription_id)
        if sub is None or not visible or sub["customer"] != customer_id:
            raise StandinError(f"No such subscription: '{subscription_id}'", status=404)
        if sub["status"] not in LIVE_STATUSES:
            raise StandinError("This subscription has already ended.")
        live: dict[str, Any] = sub
        return live

    def cancel_subscription(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        feedback: str | None,
        comment: str | None,
        immediately: bool,
        feedback_option: str | None = None,
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """Cancel as the portal does: at period end (``updated``) or now (``deleted``)."""
        with self.changing():
            sub = self._live_subscription(customer_id, subscription_id)
            previous = {key: copy.deepcopy(sub[key]) for key in _CANCELLATION_FIELDS}
            details = {
                "comment": comment,
                "feedback": feedback,
                "feedback_option": feedback_option,
                "reason": "cancellation_requested",
            }
            sub.update(canceled_at=now(), cancellation_details=details)
            if immediately:
                sub.update(status="canceled", ended_at=now())
                return "customer.subscription.deleted", copy.deepcopy(sub), None
            period_end = max(item["current_period_end"] for item in sub["items"]["data"])
            sub.update(cancel_at_period_end=True, cancel_at=period_end)
            return "customer.subscription.updated", copy.deepcopy(sub), previous

    def renew_subscription(
        self, customer_id: str, subscription_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Undo a scheduled cancellation (the portal's "Renew plan")."""
        with self.changing():
            sub = self._live_subscription(customer_id, subscription_id)
            if not sub["cancel_at_period_end"] and sub["cancel_at"] is None:
                raise StandinError("This subscription is not scheduled to cancel.")
            previous = {key: copy.deepcopy(sub[key]) for key in _CANCELLATION_FIELDS}
            sub.update(
                cancel_at=None,
                cancel_at_period_end=False,
                canceled_at=None,
                cancellation_details={
                    "comment": None,
                    "feedback": None,
                    "feedback_option": None,
                    "reason": None,
                },
            )
            return copy.deepcopy(sub), previous

    def switch_price(
        self, customer_id: str, subscription_id: str, price_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Replace the price of the subscription's (single) item, as a portal plan change."""
        with self.changing():
            sub = self._live_subscription(customer_id, subscription_id)
            new_price = self.get("prices", price_id, param="price")
            item = sub["items"]["data"][0]
            if item["price"]["id"] == price_id:
                raise StandinError("The subscription is already on this price.")
            previous = {"items": copy.deepcopy(sub["items"])}
            item["price"] = new_price
            item["plan"] = objects.plan_of(new_price)
            return copy.deepcopy(sub), previous

    def attach_card(
        self, customer_id: str, last4: str, exp_month: int, exp_year: int
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """A new card, made the customer's default: ``payment_method.attached`` and
        ``customer.updated`` (its ``invoice_settings.default_payment_method``)."""
        with self.changing():
            customer = self.data["customers"].get(customer_id)
            if customer is None or not self._visible("customers", customer_id):
                raise StandinError(f"No such customer: '{customer_id}'", status=404)
            card = objects.payment_method(customer_id, last4, exp_month, exp_year)
            self._keep("payment_methods", card)
            previous = {
                "invoice_settings": {
                    "default_payment_method": customer["invoice_settings"]["default_payment_method"]
                }
            }
            customer["invoice_settings"]["default_payment_method"] = card["id"]
            return copy.deepcopy(card), copy.deepcopy(customer), previous

    # --- portal configurations and sessions ----------------------------------------

    def create_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.changing():
            config = stripe_defaults.new_configuration(
                params, configuration_id=new_id("bpc"), created=now()
            )
            self._keep("configurations", config)
        return copy.deepcopy(config)

    def update_configuration(self, config_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.changing():
            config = self.data["configurations"].get(config_id)
            if config is None or not self._visible("configurations", config_id):
                raise StandinError(
                    f"No such configuration: '{config_id}'", status=404, code="resource_missing"
                )
            if config["is_default"] and params.get("active") is False:
                raise StandinError("You cannot deactivate the default configuration.")
            stripe_defaults.apply_params(config, params)
            config["updated"] = now()
        return copy.deepcopy(config)

    def create_session(
        self,
        *,
        customer_id: str,
        configuration_id: str | None,
        return_url: str | None,
        locale: str | None,
        flow_data: dict[str, Any] | None,
        url_for_secret: Any,
    ) -> dict[str, Any]:
        with self.changing():
            self.get("customers", customer_id, param="customer")
            config = self._session_configuration(configuration_id)
            flow = None
            if flow_data:
                self._check_flow(customer_id, flow_data)
                flow = objects.session_flow(flow_data)
            session_id = new_id("bps")
            secret = secrets.token_urlsafe(24)
            session = objects.portal_session(
                session_id,
                customer_id=customer_id,
                configuration_id=config["id"],
                url=url_for_secret(secret),
                return_url=return_url,
                locale=locale,
                flow=flow,
            )
            stored = dict(session, url=URL_NOT_KEPT)  # the URL is a bearer credential
            self._keep("sessions", stored)
            self.session_secrets[session_id] = secret
        return session

    def _session_configuration(self, configuration_id: str | None) -> dict[str, Any]:
        if configuration_id:
            config = self.get("configurations", configuration_id, param="configuration")
            if not config["active"]:
                raise StandinError(
                    f"The configuration '{configuration_id}' is not active.", param="configuration"
                )
            return config
        for config_id, config in self.data["configurations"].items():
            if config["is_default"] and self._visible("configurations", config_id):
                return copy.deepcopy(config)
        raise StandinError("No default portal configuration.")

    def _check_flow(self, customer_id: str, flow_data: dict[str, Any]) -> None:
        flow_type = flow_data.get("type")
        if flow_type in (
            "subscription_cancel",
            "subscription_pause",
            "subscription_update",
            "subscription_update_confirm",
        ):
            subscription_id = (flow_data.get(flow_type) or {}).get("subscription")
            if not subscription_id:
                raise StandinError(
                    f"Missing required param: flow_data[{flow_type}][subscription].",
                    code="parameter_missing",
                    param=f"flow_data[{flow_type}][subscription]",
                )
            self._live_subscription(customer_id, subscription_id)
        elif flow_type not in ("payment_method_update", "customer_update"):
            raise StandinError(
                f"Invalid flow_data[type]: {flow_type!r}",
                code="parameter_invalid_string",
                param="flow_data[type]",
            )
