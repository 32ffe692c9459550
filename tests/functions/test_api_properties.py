"""Property-based runs against the local stack: schemathesis generates requests from
infra/openapi.json (valid ones and, where an operation has parameters, invalid ones), signed in
and not; hypothesis generates CORS preflights, OAuth callbacks with any state, code and cookie, and
any provider answer to a flow that was really started.
(Slack bodies behind a valid signature: test_slack_ingress_fuzz.py.)

The properties: no 5xx; every error is the envelope {"success": false, "error": {"code",
"message"}} as JSON; every success is {"success": true, "data"} (the callback's 302 and CORS
preflights aside); every reply is one the document declares, with the schema it declares; and
invalid input is refused with a 4xx. Examples are bounded so the file runs in well under a minute."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from local.catalog import ROOT
from tests.backend_helpers import backend_token
from tests.functions.test_oauth_flow import start
from tests.fuzz_helpers import HEADER_BYTES, assert_envelope
from tests.oauth_helpers import APP_ORIGIN, FAILURE_URL, landed

SCHEMA = schemathesis.openapi.from_path(ROOT / "infra" / "openapi.json")
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    negative_data_rejection,
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 20  # per operation, mode and sign-in: 32 runs, at most 640 requests
# Every example of a run shares the stack's state and the user's token.
PER_RUN = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def _runs():
    for operation in OPERATIONS:
        modes = (
            [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
            if operation.definition.raw.get("parameters")
            else [GenerationMode.POSITIVE]
        )
        for mode in modes:
            for signed_in in (False, True) if operation.definition.raw.get("security") else (False,):
                label = f"{operation.label} {mode.value}{' signed-in' if signed_in else ''}"
                yield pytest.param(operation, mode, signed_in, id=label)


def _token(operation, id_token, sandbox) -> str:
    """The token of the operation's scheme: the app backend's Google ID token, or a user's Firebase one."""
    if operation.definition.raw["security"] == [{"app_backend": []}]:
        return backend_token(sandbox)
    return id_token("fuzzer")


@pytest.mark.parametrize("operation, mode, signed_in", list(_runs()))
def test_every_operation_answers_in_the_envelope_and_as_documented(stack, id_token, sandbox, operation, mode, signed_in):
    session = requests.Session()
    authorization = {"Authorization": f"Bearer {_token(operation, id_token, sandbox)}"} if signed_in else {}

    @PER_RUN
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.headers = {**(case.headers or {}), **authorization}
        response = case.call(base_url=stack.api_url, session=session, allow_redirects=False, timeout=30)
        case.validate_response(response, checks=CHECKS)
        if case.method != "HEAD":  # a HEAD reply has no body
            assert_envelope(response.status_code, (response.headers.get("content-type") or [""])[0], response.content)

    check()


@pytest.mark.parametrize("path", ["/api/v1/oauth/%0A/status", "/api/v1/oauth/slack%0A/callback"])
def test_a_newline_in_the_path_is_answered_in_the_envelope(api, path):
    reply = api.get(path)
    assert_envelope(reply.status_code, reply.headers.get("Content-Type", ""), reply.content)


@pytest.mark.parametrize(
    "method, path, headers, status, code",
    [
        # RecursionError while decoding the header: was a 500
        ("GET", "/api/v1/me", {"Authorization": "Bearer " + "W1tb" * 700 + ".e30.c2ln"}, 401, "invalid_token"),
        # "²".isdigit() but int("²") fails: was a 500
        (
            "POST",
            "/api/v1/webhooks/slack/events",
            {"X-Slack-Request-Timestamp": "²", "X-Slack-Signature": "v0=00"},
            401,
            "invalid_signature",
        ),
        # a Firestore-reserved document id: was a 500
        (
            "POST",
            "/api/v1/webhooks/calendar/push",
            {"X-Goog-Channel-ID": "__dict__", "X-Goog-Resource-State": "exists"},
            400,
            "invalid_channel",
        ),
    ],
)
def test_inputs_that_were_500s(api, method, path, headers, status, code):
    reply = api.request(method, path, headers=headers, data=b"{}")
    assert reply.status_code == status and reply.json()["error"]["code"] == code


PATHS = sorted({operation.path.replace("{service}", "slack") for operation in OPERATIONS})


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(PATHS),
    origin=st.none() | st.sampled_from([APP_ORIGIN, APP_ORIGIN + "/", "https://evil.example", "null"]) | HEADER_BYTES,
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
)
def test_a_preflight_is_an_empty_204_with_cors_for_the_app_only(stack, path, origin, method):
    headers = {"Access-Control-Request-Method": method, **({} if origin is None else {"Origin": origin})}
    reply = requests.options(stack.api_url + path, headers=headers, timeout=30)
    assert reply.status_code == 204 and reply.content == b""
    assert reply.headers.get("Access-Control-Allow-Origin") == (APP_ORIGIN if origin == APP_ORIGIN else None)


QUERY_TEXT = st.text(max_size=60) | st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True)
COOKIE_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';,"\\'), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    service=st.sampled_from(["slack", "gmail", "calendar"]),
    query=st.dictionaries(st.sampled_from(["state", "code", "error", "scope"]), QUERY_TEXT, max_size=4),
    cookies=st.dictionaries(
        st.from_regex(r"gw_oauth_[0-9a-f]{16}", fullmatch=True) | st.text("abc_", min_size=1, max_size=8), COOKIE_TEXT, max_size=3
    ),
)
def test_a_callback_with_any_state_code_and_cookie_is_a_redirect_to_invalid_state(stack, service, query, cookies):
    """No state was started, so whatever arrives is refused the same way: a redirect, never a page."""
    reply = requests.get(
        f"{stack.api_url}/api/v1/oauth/{service}/callback",
        params=query,
        headers={"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())} if cookies else {},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 302, reply.text
    assert reply.headers["Location"] == f"{FAILURE_URL}?service={service}&reason=invalid_state"


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    service=st.sampled_from(["slack", "gmail", "calendar"]),
    answer=st.fixed_dictionaries({}, optional={"code": QUERY_TEXT, "error": st.just("access_denied") | QUERY_TEXT}),
)
def test_a_started_flow_given_any_code_or_error_fails_with_the_reason_for_it(user, service, answer):
    """Past the state and its cookie, the provider's answer decides: no code the sandbox issued can
    be guessed, so the flow fails, for the reason that matches what came back, never server_error."""
    browser = user("fuzzer")
    state = start(browser, service)["state"]
    outcome = landed(browser.get(f"/api/v1/oauth/{service}/callback", params={"state": state, **answer}))
    if answer.get("error"):
        reason = "access_denied" if answer["error"] == "access_denied" else "provider_error"
    else:
        reason = "exchange_failed" if answer.get("code") else "invalid_request"
    assert outcome == {"outcome": "failure", "service": service, "reason": reason}
