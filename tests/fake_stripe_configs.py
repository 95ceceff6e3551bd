"""A small stateful fake of Stripe's portal configuration endpoints, for `responses`.

It keeps configurations between calls, lists them in pages (newest first, as Stripe
does), honours idempotency keys, fills in what Stripe fills in, and refuses what
Stripe refuses: every request body is checked against Stripe's spec
(../shared/stripe-openapi) where present, else against the package's own rules.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

from django_stripe_portal.configurations import schema, stripe_defaults
from django_stripe_portal.testing.stripe_forms import configuration_params, decode_form
from tests import contract, stripe_objects

BASE = "https://api.stripe.com/v1/billing_portal/configurations"
_LIST_URL = re.compile(re.escape(BASE) + r"(\?.*)?$")
_ONE_URL = re.compile(re.escape(BASE) + r"/(?P<id>bpc_\w+)(\?.*)?$")


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    body: str


@dataclass
class FakeStripeConfigurations:
    """Register with ``FakeStripeConfigurations(stripe_mock).install()``."""

    mock: responses.RequestsMock
    livemode: bool = False
    #: What the account's public details put in ``business_profile`` when a create
    #: leaves it out (Stripe fills it from the account).
    account_business_profile: dict[str, Any] = field(default_factory=dict)
    #: Keys (by marker) whose writes fail with a Stripe error, as long as they are listed.
    failing_keys: set[str] = field(default_factory=set)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The account's ``billing.feedback_option`` objects, by id (expanded on request).
    feedback_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    _idempotent: dict[str, tuple[str, tuple[int, dict[str, str], str]]] = field(
        default_factory=dict
    )
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1_700_000_000))

    def install(self) -> FakeStripeConfigurations:
        self.mock.add_callback(responses.GET, _LIST_URL, callback=self._list)
        self.mock.add_callback(responses.POST, _LIST_URL, callback=self._create)
        self.mock.add_callback(responses.GET, _ONE_URL, callback=self._retrieve)
        self.mock.add_callback(responses.POST, _ONE_URL, callback=self._update)
        return self

    # ----------------------------------------------------------------- helpers for tests

    def add(self, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A configuration made elsewhere (Dashboard, another tool), from create params."""
        obj = self._new_object(params)
        obj.update(fields)
        self.objects[obj["id"]] = obj
        return obj

    def edit(self, stripe_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """A change made in the Dashboard."""
        obj = self.objects[stripe_id]
        stripe_defaults.apply_params(obj, params)
        obj["updated"] = next(self._clock)
        return obj

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method == "POST"]

    def lists(self) -> list[Call]:
        return [call for call in self.calls if call.method == "GET"]

    def by_key(self, key: str) -> list[dict[str, Any]]:
        return [
            obj
            for obj in self.objects.values()
            if (obj.get("metadata") or {}).get("django_stripe_portal_key") == key
        ]

    # ----------------------------------------------------------------- endpoints

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        call = self._record(request, {})
        error = self._check_request(request)
        if error:
            return error
        query = call.params
        limit = int(query.get("limit", 10))
        ordered = sorted(self.objects.values(), key=lambda o: (-o["created"], o["id"]))
        for name in ("active", "is_default"):
            if name in query:
                wanted = query[name] == "true"
                ordered = [obj for obj in ordered if obj[name] is wanted]
        if "starting_after" in query:
            ids = [obj["id"] for obj in ordered]
            ordered = ordered[ids.index(query["starting_after"]) + 1 :]
        page = ordered[:limit]
        expand = _expand_paths(request.url)
        if any(path.count(".") >= 4 for path in expand):
            # Stripe's answer to an expansion deeper than four levels.
            return _error(400, "You cannot expand more than 4 levels of a property.", "expand")
        return _ok(
            {
                "object": "list",
                "url": "/v1/billing_portal/configurations",
                "has_more": len(ordered) > limit,
                "data": page,
            }
        )

    def _retrieve(self, request: Any) -> tuple[int, dict[str, str], str]:
        self._record(request, {})
        stripe_id = _ONE_URL.match(request.url)["id"]  # type: ignore[index]
        if stripe_id not in self.objects:
            return _error(404, f"No such configuration: '{stripe_id}'", "configuration")
        return _ok(self._expanded(self.objects[stripe_id], _expand_paths(request.url)))

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self._write(request, None)

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self._write(request, _ONE_URL.match(request.url)["id"])  # type: ignore[index]

    def _write(self, request: Any, stripe_id: str | None) -> tuple[int, dict[str, str], str]:
        params = configuration_params(decode_form(_body(request)), update=stripe_id is not None)
        call = self._record(request, params)
        replay = self._idempotent.get(call.idempotency_key or "")
        if replay is not None:
            if replay[0] != call.body:
                return _error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    None,
                    "idempotency_error",
                )
            return replay[1]
        error = self._check_request(request, params, update=stripe_id is not None)
        if error:
            return error
        if stripe_id is not None and stripe_id not in self.objects:
            return _error(404, f"No such configuration: '{stripe_id}'", "configuration")
        key = (params.get("metadata") or {}).get("django_stripe_portal_key")
        if stripe_id is not None:
            key = key or (self.objects[stripe_id].get("metadata") or {}).get(
                "django_stripe_portal_key"
            )
        if key in self.failing_keys:
            return _error(400, f"Simulated refusal for {key}", None)
        if stripe_id is None:
            obj = self._new_object(params)
        else:
            obj = copy.deepcopy(self.objects[stripe_id])
            stripe_defaults.apply_params(obj, params)
            obj["updated"] = next(self._clock)
        # Rules Stripe applies to the resulting configuration (stated in its spec's texts).
        broken = schema.documented_rule_errors(obj["id"], obj)
        if broken:
            return _error(400, "; ".join(error.message for error in broken), None)
        self.objects[obj["id"]] = obj
        expand = params.get("expand") or []
        answer = _ok(
            self._expanded(obj, list(expand.values() if isinstance(expand, dict) else expand))
        )
        if call.idempotency_key:
            self._idempotent[call.idempotency_key] = (call.body, answer)
        return answer

    # ----------------------------------------------------------------- internals

    def _expanded(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        if FEEDBACK_OPTIONS_PATH not in expand:
            return obj
        obj = copy.deepcopy(obj)
        reasons = obj["features"]["subscription_cancel"]["cancellation_reason"]
        reasons["feedback_options"] = [
            self.feedback_options[option] for option in reasons.get("feedback_options") or []
        ]
        return obj

    def _record(self, request: Any, params: dict[str, Any]) -> Call:
        parts = urlsplit(request.url)
        if request.method == "GET":
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
        call = Call(
            request.method,
            parts.path,
            params,
            request.headers.get("Idempotency-Key"),
            _body(request),
        )
        self.calls.append(call)
        return call

    def _check_request(
        self, request: Any, params: dict[str, Any] | None = None, *, update: bool = False
    ) -> tuple[int, dict[str, str], str] | None:
        """Refuse what Stripe refuses: the shared spec where present, else our rules."""
        if contract.available():
            v = contract.validator()
            try:
                contract.validate_request(request.method, request.url, _body(request))
            except v.StripeSchemaError as exc:
                return _error(400, str(exc), None)
            return None
        if params is None:
            return None
        problems = (
            schema.validate_update_params(params)
            if update
            else schema.validate_create_params(params)
        )
        return _error(400, "; ".join(problems), None) if problems else None

    def _new_object(self, params: dict[str, Any]) -> dict[str, Any]:
        return stripe_defaults.new_configuration(
            params,
            configuration_id=stripe_objects.unique_id("bpc"),
            created=next(self._clock),
            livemode=self.livemode,
            account_business_profile=self.account_business_profile,
        )


FEEDBACK_OPTIONS_PATH = "features.subscription_cancel.cancellation_reason.feedback_options"


def _expand_paths(url: str) -> list[str]:
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return [value for name, value in query if name.startswith("expand[")]


def _body(request: Any) -> str:
    body = request.body or ""
    return body.decode() if isinstance(body, bytes) else str(body)


def _ok(obj: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    return 200, {"Request-Id": stripe_objects.unique_id("req")}, json.dumps(obj)


def _error(
    status: int, message: str, param: str | None, error_type: str = "invalid_request_error"
) -> tuple[int, dict[str, str], str]:
    body = {"error": {"type": error_type, "message": message, "param": param}}
    headers = {"Request-Id": stripe_objects.unique_id("req"), "Stripe-Should-Retry": "false"}
    return status, headers, json.dumps(body)
