"""The ``/v1/…`` endpoints the example project calls, answering as Stripe does.

Only what the demo needs, with Stripe's parameter names, its error envelope for
unknown or missing parameters, and the events Stripe sends after each change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django_stripe_portal.testing.stripe_forms import configuration_params
from stripe_standin import churn, entitlements, events_api, objects
from stripe_standin.forms import as_int, typed
from stripe_standin.state import StandinError, StandinState

Answer = tuple[int, dict[str, Any]]


@dataclass
class ApiRequest:
    method: str
    path: str
    params: dict[str, Any]
    request_id: str
    idempotency_key: str | None


@dataclass
class ApiContext:
    state: StandinState
    emit: Callable[[dict[str, Any]], object]
    session_url: Callable[[str], str]


_CUSTOMER_PARAMS = {
    "address",
    "description",
    "email",
    "expand",
    "metadata",
    "name",
    "phone",
    "preferred_locales",
}
_SUBSCRIPTION_PARAMS = {
    "customer",
    "items",
    "metadata",
    "expand",
    "payment_behavior",
    "collection_method",
    "default_payment_method",
}
_CONFIGURATION_PARAMS = {
    "business_profile",
    "default_return_url",
    "expand",
    "features",
    "login_page",
    "metadata",
    "name",
}
_SESSION_PARAMS = {
    "configuration",
    "customer",
    "customer_account",
    "expand",
    "flow_data",
    "locale",
    "on_behalf_of",
    "return_url",
}
_LIST_PARAMS = {"limit", "starting_after", "ending_before", "expand"}


def _only(params: dict[str, Any], allowed: set[str]) -> None:
    for name in sorted(set(params) - allowed):
        raise StandinError(
            f"Received unknown parameter: {name}", code="parameter_unknown", param=name
        )


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise StandinError(f"Missing required param: {name}.", code="parameter_missing", param=name)
    return value


def _paginate(url: str, rows: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    limit = min(max(as_int(params.get("limit"), 10), 1), 100)
    after = params.get("starting_after")
    if after:
        ids = [row["id"] for row in rows]
        rows = rows[ids.index(after) + 1 :] if after in ids else []
    return objects.stripe_list(url, rows[:limit], has_more=len(rows) > limit)


def _event(
    ctx: ApiContext,
    request: ApiRequest,
    event_type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None = None,
) -> None:
    event = objects.event(
        event_type,
        obj,
        previous_attributes=previous,
        request_id=request.request_id,
        idempotency_key=request.idempotency_key,
    )
    ctx.state.record_event(event)
    ctx.emit(event)
    for summary_event in entitlements.summary_events(ctx.state, [event]):
        ctx.emit(summary_event)


# --- customers, catalogue, subscriptions ----------------------------------------------


def create_customer(ctx: ApiContext, request: ApiRequest) -> Answer:
    _only(request.params, _CUSTOMER_PARAMS)
    created = ctx.state.create_customer(
        email=request.params.get("email"), name=request.params.get("name")
    )
    _event(ctx, request, "customer.created", created)
    return 200, created


def retrieve(collection: str) -> Callable[[ApiContext, ApiRequest, str], Answer]:
    def view(ctx: ApiContext, request: ApiRequest, object_id: str) -> Answer:
        return 200, ctx.state.get(collection, object_id)

    return view


def list_products(ctx: ApiContext, request: ApiRequest) -> Answer:
    rows = ctx.state.all("products")
    if "active" in request.params:
        rows = [row for row in rows if row["active"] is typed(request.params["active"])]
    return 200, _paginate("/v1/products", rows, request.params)


def list_prices(ctx: ApiContext, request: ApiRequest) -> Answer:
    rows = ctx.state.all("prices")
    lookup_keys = request.params.get("lookup_keys")
    if lookup_keys:
        rows = [row for row in rows if row["lookup_key"] in lookup_keys]
    if request.params.get("product"):
        rows = [row for row in rows if row["product"] == request.params["product"]]
    return 200, _paginate("/v1/prices", rows, request.params)


def create_subscription(ctx: ApiContext, request: ApiRequest) -> Answer:
    _only(request.params, _SUBSCRIPTION_PARAMS)
    customer_id = _required(request.params, "customer")
    items = [
        (str(_required(item, "price")), as_int(item.get("quantity"), 1))
        for item in _required(request.params, "items")
    ]
    created = ctx.state.create_subscription(customer_id, items)
    _event(ctx, request, "customer.subscription.created", created)
    return 200, created


def list_subscriptions(ctx: ApiContext, request: ApiRequest) -> Answer:
    rows = ctx.state.all("subscriptions")
    customer_id = request.params.get("customer")
    if customer_id:
        rows = [row for row in rows if row["customer"] == customer_id]
    status = request.params.get("status")
    if status and status != "all":
        rows = [row for row in rows if row["status"] == status]
    elif not status:  # Stripe's default: every status but canceled
        rows = [row for row in rows if row["status"] != "canceled"]
    return 200, _paginate("/v1/subscriptions", rows, request.params)


# --- billing portal -------------------------------------------------------------------


def list_configurations(ctx: ApiContext, request: ApiRequest) -> Answer:
    _only(request.params, _LIST_PARAMS | {"active", "is_default"})
    expand = request.params.get("expand") or {}
    if any(
        str(path).count(".") >= 4
        for path in (expand.values() if isinstance(expand, dict) else expand)
    ):
        raise StandinError("You cannot expand more than 4 levels of a property.", param="expand")
    rows = ctx.state.all("configurations")
    for flag in ("active", "is_default"):
        if flag in request.params:
            rows = [row for row in rows if row[flag] is typed(request.params[flag])]
    return 200, _paginate("/v1/billing_portal/configurations", rows, request.params)


def create_configuration(ctx: ApiContext, request: ApiRequest) -> Answer:
    _only(request.params, _CONFIGURATION_PARAMS)
    _required(request.params, "features")
    params = configuration_params(_without_expand(request.params), update=False)
    churn.check_options(_with_defaults(params))
    created = ctx.state.create_configuration(params)
    _event(ctx, request, "billing_portal.configuration.created", created)
    return 200, churn.expanded(created, request.params.get("expand"))


def retrieve_configuration(ctx: ApiContext, request: ApiRequest, config_id: str) -> Answer:
    config = ctx.state.get("configurations", config_id)
    return 200, churn.expanded(config, request.params.get("expand"))


def _with_defaults(params: dict[str, Any]) -> dict[str, Any]:
    features = params.get("features") or {}
    cancel = features.get("subscription_cancel") or {}
    reasons = cancel.get("cancellation_reason") or {}
    return {"features": {"subscription_cancel": {"cancellation_reason": reasons}}}


def update_configuration(ctx: ApiContext, request: ApiRequest, config_id: str) -> Answer:
    _only(request.params, _CONFIGURATION_PARAMS | {"active"})
    params = configuration_params(_without_expand(request.params), update=True)
    before = ctx.state.get("configurations", config_id, param="configuration")
    churn.check_options(_with_defaults(params))
    updated = ctx.state.update_configuration(config_id, params)
    previous = {
        key: before[key] for key in updated if key != "updated" and before.get(key) != updated[key]
    }
    if previous:
        _event(ctx, request, "billing_portal.configuration.updated", updated, previous)
    return 200, churn.expanded(updated, request.params.get("expand"))


def create_session(ctx: ApiContext, request: ApiRequest) -> Answer:
    _only(request.params, _SESSION_PARAMS)
    params = request.params
    session = ctx.state.create_session(
        customer_id=_required(params, "customer"),
        configuration_id=params.get("configuration") or None,
        return_url=params.get("return_url") or None,
        locale=params.get("locale") or None,
        flow_data=params.get("flow_data") or None,
        url_for_secret=ctx.session_url,
    )
    _event(ctx, request, "billing_portal.session.created", session)
    return 200, session


def list_events(ctx: ApiContext, request: ApiRequest) -> Answer:
    return 200, events_api.list_events(ctx.state, request.params)


def _without_expand(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key != "expand"}


def list_active_entitlements(ctx: ApiContext, request: ApiRequest) -> Answer:
    _only(request.params, {"customer", "limit", "starting_after", "ending_before", "expand"})
    customer_id = _required(request.params, "customer")
    rows = entitlements.list_active_entitlements(ctx.state, customer_id, request.params)
    return 200, _paginate("/v1/entitlements/active_entitlements", rows, request.params)


_ID = r"([A-Za-z0-9_]+)"
ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
    ("POST", re.compile(r"/v1/customers"), create_customer),
    ("GET", re.compile(rf"/v1/customers/{_ID}"), retrieve("customers")),
    ("GET", re.compile(r"/v1/products"), list_products),
    ("GET", re.compile(rf"/v1/products/{_ID}"), retrieve("products")),
    ("GET", re.compile(r"/v1/prices"), list_prices),
    ("GET", re.compile(rf"/v1/prices/{_ID}"), retrieve("prices")),
    ("POST", re.compile(r"/v1/subscriptions"), create_subscription),
    ("GET", re.compile(r"/v1/subscriptions"), list_subscriptions),
    ("GET", re.compile(rf"/v1/subscriptions/{_ID}"), retrieve("subscriptions")),
    ("GET", re.compile(rf"/v1/payment_methods/{_ID}"), retrieve("payment_methods")),
    ("GET", re.compile(r"/v1/billing_portal/configurations"), list_configurations),
    ("POST", re.compile(r"/v1/billing_portal/configurations"), create_configuration),
    ("GET", re.compile(rf"/v1/billing_portal/configurations/{_ID}"), retrieve_configuration),
    ("POST", re.compile(rf"/v1/billing_portal/configurations/{_ID}"), update_configuration),
    ("POST", re.compile(r"/v1/billing_portal/sessions"), create_session),
    ("GET", re.compile(r"/v1/events"), list_events),
    ("GET", re.compile(rf"/v1/events/{_ID}"), retrieve("events")),
    ("GET", re.compile(r"/v1/entitlements/active_entitlements"), list_active_entitlements),
]


def dispatch(ctx: ApiContext, request: ApiRequest) -> Answer:
    """Route one API request; every refusal is Stripe's error envelope, never a crash."""
    for method, pattern, view in ROUTES:
        match = pattern.fullmatch(request.path)
        if match and method == request.method:
            try:
                return view(ctx, request, *match.groups())
            except StandinError as exc:
                return exc.status, objects.error_body(str(exc), code=exc.code, param=exc.param)
    return 404, objects.error_body(
        f"Unrecognized request URL ({request.method}: {request.path}). "
        "This is the offline Stripe stand-in of the example project: it knows only the "
        "endpoints the demo uses."
    )
