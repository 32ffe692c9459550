"""A canary token pushed through every logging path must never reach the output."""

import io
import json
import logging
import warnings

import pytest

from common.platform.errors import Unauthenticated
from common.platform.logs import bind_trace, get_logger, redact_value, setup_logging

CANARIES = [
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "xoxe.xoxp-1-Mi0yLTE3NjUzNjcyNDgxLTE5ODc0Njk4MzIzLTE5ODc0Njk4MzIzLTk5OTk5OTk5",
    "xoxe-1-My0xLTE3NjUzNjcyNDgxLTE5ODc0Njk4MzIzLTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    "ya29.a0AfH6SMBx-canary-google-access-token_0123456789",
    "1//0gCanaryGoogleRefreshToken-abcdefghijklmnopqrstuvwxyz",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeQ",
    "https://hooks.slack.com/actions/T0ACME/1234567890/CanaryResponseUrlSecretPart",  # a Slack response_url
]
PLAIN_SECRET = "hunter2-plain-secret-value"


@pytest.fixture
def output():
    stream = io.StringIO()
    setup_logging(stream)
    yield stream
    setup_logging(None)  # back to stdout for the rest of the session


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("canary", CANARIES)
def test_canary_never_reaches_the_output(output, canary):
    log = get_logger("tests.canary")
    log.info(f"token is {canary}")
    log.info("token is %s", canary)
    log.warning("headers %s", {"Authorization": f"Bearer {canary}"})
    log.info("fields", extra={"fields": {"access_token": canary, "nested": {"list": [canary], "note": f"got {canary}"}}})
    log.info("url https://oauth2.example/token?code=4/abc&refresh_token=%s&state=s", canary)
    log.info('json body {"access_token": "%s", "ok": true}', canary)
    try:
        try:
            raise ValueError(f"provider said {canary}")
        except ValueError as inner:
            raise RuntimeError(f"wrapped {canary}") from inner
    except RuntimeError:
        log.exception("failure while refreshing")
    logging.getLogger("urllib3.connectionpool").warning("GET /api?token=%s", canary)
    logging.getLogger().error("root logger %s", canary)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # pytest records warnings itself; route them as production does
        logging.captureWarnings(True)
        warnings.warn(f"deprecated call with {canary}", UserWarning, stacklevel=1)
    log.info("error repr %r", Unauthenticated("The ID token is not valid"))
    text = output.getvalue()
    assert len(lines(output)) == 11
    assert canary not in text
    assert "[REDACTED]" in text


def test_known_secret_fields_lose_any_value(output):
    get_logger("tests.fields").info(
        "fields",
        extra={
            "fields": {
                "client_secret": PLAIN_SECRET,
                "code_verifier": PLAIN_SECRET,
                "password": PLAIN_SECRET,
                "response_url": PLAIN_SECRET,
            }
        },
    )
    get_logger("tests.fields").info("form client_secret=%s&grant_type=refresh_token", PLAIN_SECRET)
    assert PLAIN_SECRET not in output.getvalue()
    assert "grant_type=refresh_token" in output.getvalue()


def test_structured_format_has_severity_message_and_trace(output):
    trace = bind_trace({"X-Cloud-Trace-Context": "0123456789abcdef0123456789abcdef/1;o=1"})
    get_logger("tests.format").warning("careful", extra={"fields": {"uid": "alice", "count": 3}})
    entry = lines(output)[-1]
    assert entry["severity"] == "WARNING" and entry["message"] == "careful"
    assert entry["uid"] == "alice" and entry["count"] == 3
    assert entry["logging.googleapis.com/trace"].endswith(f"/traces/{trace}")
    assert trace == "0123456789abcdef0123456789abcdef"


def test_traceparent_and_fresh_trace_ids():
    assert (
        bind_trace({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        == "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    first, second = bind_trace({}), bind_trace({})
    assert len(first) == 32 and first != second


def test_ordinary_values_are_kept():
    assert redact_value({"uid": "alice", "service": "slack", "status_code": 500, "tokens": 3}) == {
        "uid": "alice",
        "service": "slack",
        "status_code": 500,
        "tokens": 3,
    }
