"""What the property-based tests share: generators of hostile values, and the reply shape every
HTTP function keeps whatever it is sent."""

import json

from hypothesis import strategies as st


def json_values(text=None, *, finite: bool = True):
    """Any value JSON can carry (NaN and infinities too unless `finite`: Python's json reads them),
    nested a few levels, with strings from `text`."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=not finite, allow_infinity=not finite)
    return st.recursive(
        leaves | (st.text(max_size=30) if text is None else text),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=10,
    )


# Any header value HTTP allows (RFC 9110 field-value: visible ASCII, obs-text, inner blanks); the
# server refuses other bytes itself, before any function runs.
FIELD_VALUE_BYTES = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
HEADER_BYTES = st.lists(st.sampled_from(FIELD_VALUE_BYTES), max_size=20).map(bytes).map(lambda raw: raw.strip(b" \t"))


def assert_envelope(status: int, content_type: str, body: bytes) -> None:
    """The one reply shape, for any status other than a redirect or a preflight's 204."""
    if status in (204, 302):
        return
    assert content_type.startswith("application/json"), (status, content_type, body[:200])
    reply = json.loads(body)
    if status >= 400:
        assert reply["success"] is False and set(reply) <= {"success", "error", "data"}, reply
        assert isinstance(reply["error"]["code"], str) and isinstance(reply["error"]["message"], str), reply
    elif set(reply) != {"challenge"}:  # Slack's url_verification reads exactly {"challenge"}
        assert reply["success"] is True and "data" in reply, reply


def mostly(plausible, otherwise):
    """`plausible` three times in four, `otherwise` the rest (a list stands for any of its items):
    most examples get past the checks to the code behind them, and each check still sees what it
    must refuse."""
    as_strategy = [st.sampled_from(s) if isinstance(s, (list, tuple)) else s for s in (plausible, otherwise)]
    return st.integers(0, 3).flatmap(lambda n: as_strategy[1] if n == 0 else as_strategy[0])


# Proxied paths (common/access/proxy_paths.py): pieces attackers use, and plain ones, so that examples both
# pass and fail the checks.
PIECES = [
    "..",
    ".",
    "/",
    "//",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%25",
    "%252e",
    "%c0%ae",
    "%ef%bc%8e",
    "%ef%bc%8f",
    "@",
    "\\",
    ":",
    "http:",
    "https://evil.example",
    "evil.example",
    "%00",
    "%0a",
    "%40",
    "%20",
    "~",
    "%",
    "%zz",
    "\u2025",
    "\uff0e",
    "\x7f",
    " ",
]
WORDS = ["conversations.list", "gmail", "v1", "users", "me", "labels", "calendars", "primary", "events", "abc123"]
PROXY_PATHS = st.lists(mostly(WORDS, PIECES), min_size=1, max_size=8).map("/".join) | st.text(max_size=40)
