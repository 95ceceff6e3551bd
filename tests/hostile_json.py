"""Hypothesis strategies for hostile webhook input: what answered 500 before
(non-ASCII signature headers, floats that overflow, lone surrogates, deep nesting,
nesting hidden inside strings, NULs at depth, URLs ``urlsplit`` refuses), shared by the
in-process fuzz tests and the bounded run against gunicorn."""

from __future__ import annotations

import json
import re

from hypothesis import strategies as st

from tests import stripe_objects as so

header_texts = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda t, sigs: ",".join([f"t={t}", *(f"v1={s}" for s in sigs)]),
        st.one_of(st.integers(), st.text(max_size=12)),
        st.lists(st.text(alphabet="0123456789abcdef", max_size=64), max_size=3),
    ),
)

#: Non-ASCII where digits and hex belong, and UTF-8 bytes read as latin-1 (as under WSGI).
non_ascii_header_texts = st.builds(
    lambda t, sig: f"t={t},v1={sig}",
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x2FFF), max_size=64),
) | st.builds(
    # UTF-8 bytes as a WSGI server hands them over: latin-1 decoded.
    lambda text: text.encode().decode("latin-1"),
    header_texts.filter(lambda text: not text.isascii()),
)

#: JSON numbers past a double (``inf`` in Python, refused by PostgreSQL).
huge_floats = st.builds(
    lambda sign, mantissa, exponent: f"{sign}{mantissa}e{exponent}",
    st.sampled_from(["", "-"]),
    st.sampled_from(["1", "9.99", "1.7976931348623157", "0.5"]),
    st.integers(min_value=300, max_value=10**6),
)
_HEX_ESCAPE_RE = re.compile(r"\\u[0-9a-f]{4}")
#: JSON strings holding one lone surrogate escape, lower or upper case hex.
surrogate_strings = st.builds(
    lambda before, code, after, upper: _HEX_ESCAPE_RE.sub(
        (lambda match: match.group(0).upper().replace("\\U", "\\u")) if upper else r"\g<0>",
        json.dumps(before + chr(code) + after),
    ),
    st.text(max_size=4),
    st.integers(min_value=0xD800, max_value=0xDFFF),
    st.text(max_size=4),
    st.booleans(),
)


def _nested(levels: int, kind: str, inner: str) -> str:
    if kind == "list":
        return "[" * levels + inner + "]" * levels
    if kind == "hidden list":
        # Each level's bracket is balanced by one inside a string: a raw count sees no depth.
        return '["]",' * levels + inner + ',"["]' * levels
    if kind == "hidden dict":
        return '{"}":' * levels + inner + ',"{":1}' * levels
    return '{"a": ' * levels + inner + "}" * levels


#: NULs where PostgreSQL cannot take them: in strings and keys, after escaped backslashes.
nul_strings = st.sampled_from(
    [
        '"\\u0000"',
        '"a\\u0000b"',
        '"\\\\\\u0000"',  # an escaped backslash, then a NUL
        '"\\\\u0000"',  # an escaped backslash, then the letters u0000
        '{"\\u0000": "\\u0000"}',
    ]
)

#: Raw JSON: the above, nested up to 3,000 deep (plainly or hidden in strings), in lists.
hostile_fragments = st.recursive(
    huge_floats | surrogate_strings | nul_strings | st.just("1"),
    lambda inner: (
        st.builds(
            _nested,
            st.integers(min_value=1, max_value=3000),
            st.sampled_from(["list", "dict", "hidden list", "hidden dict"]),
            inner,
        )
        | st.lists(inner, min_size=1, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
    ),
    max_leaves=4,
)

#: URLs that ``urlsplit`` refuses (an IPv6 host never closed, or brackets around a name),
#: and others an open-redirect check must keep out.
bad_urls = st.one_of(
    st.sampled_from(
        [
            "http://[",
            "https://[::1",
            "http://]",
            "//[",
            "http://a]b/",
            "https://[x]y/",
            "http://[::1]:99999/",
            "https://evil.example.net/",
            "//evil.example.net",
            "/\\evil.example.net",
            "javascript:alert(1)",
            "http://testserver@evil.example.net/",
            "",
        ]
    ),
    st.builds(
        lambda scheme, host, rest: f"{scheme}{host}{rest}",
        st.sampled_from(["http://", "https://", "//", "", "HTTP://"]),
        st.sampled_from(["[", "]", "[::1", "[v1.x]", "a[b", "testserver", "[::1]"]),
        st.text(alphabet="/[]@:?#%\\\t .", max_size=8),
    ),
)


#: Where a fragment goes: a field, the envelope's id/type/created, the customer id.
HOSTILE_SPOTS = ["metadata", "id", "type", "customer", "created", "previous"]
_PLACEHOLDER = '"__hostile__"'


def hostile_event_body(where: str, fragment: str) -> str:
    """A real-shaped subscription event with the raw JSON ``fragment`` at ``where``."""
    event = so.event(
        "customer.subscription.updated", so.subscription(), previous_attributes={"quantity": 1}
    )
    fields = {
        "metadata": event["data"]["object"]["metadata"],
        "previous": event["data"]["previous_attributes"],
    }
    if where in fields:
        fields[where]["fuzz"] = "__hostile__"
    elif where == "customer":
        event["data"]["object"]["customer"] = "__hostile__"
    else:
        event[where] = "__hostile__"
    return json.dumps(event).replace(_PLACEHOLDER, fragment, 1)


#: URL-shaped fields of the objects the app reads, and the event type carrying each.
URL_FIELDS = {
    ("billing_portal.session.created", "return_url"),
    ("billing_portal.session.created", "url"),
    ("billing_portal.session.created", "flow.after_completion.redirect.return_url"),
    ("billing_portal.configuration.updated", "default_return_url"),
    ("billing_portal.configuration.updated", "login_page.url"),
    ("billing_portal.configuration.updated", "business_profile.privacy_policy_url"),
    ("billing_portal.configuration.updated", "business_profile.terms_of_service_url"),
}


def bad_url_event_body(where: tuple[str, str], url: str) -> str:
    """A real-shaped event with ``url`` in one of its URL-shaped fields."""
    event_type, path = where
    if event_type == "billing_portal.session.created":
        obj = so.portal_session(customer="cus_fuzz")
        obj["flow"] = {
            "type": "payment_method_update",
            "after_completion": {"type": "redirect", "redirect": {"return_url": None}},
        }
    else:
        obj = so.portal_configuration()
    *parents, name = path.split(".")
    holder = obj
    for parent in parents:
        holder = holder[parent]
    holder[name] = url
    return json.dumps(so.event(event_type, obj))


def json_depth(text: str) -> int:
    """How deep valid JSON ``text`` nests, read character by character (independent of
    the app's own measure, and of the recursion limit)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
