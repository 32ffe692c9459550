"""Where the test stack sends the browser after OAuth, the app origin it allows (tests/conftest.py),
and where a flow landed."""

import urllib.parse

import requests

APP_ORIGIN = "https://app.example.test"
SUCCESS_URL = "https://app.example.test/connected"
FAILURE_URL = "https://app.example.test/failed"


def landed(reply: requests.Response) -> dict:
    """Where the callback sent the browser: {"outcome": "success"|"failure", params...}."""
    assert reply.status_code == 302, reply.text
    location = reply.headers["Location"]
    base, _, query = location.partition("?")
    outcome = {SUCCESS_URL: "success", FAILURE_URL: "failure"}.get(base, base)
    return {"outcome": outcome, **dict(urllib.parse.parse_qsl(query))}
