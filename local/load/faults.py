"""What `make load --faults` makes the providers do: on every provider call the load reaches (Gmail
history, messages and labels, Calendar events and calendar list, Google's token endpoint), a standing chance of a 503, of a
429 with Retry-After, and of added latency, for the whole run; the provider recovers before the run
is checked. Google tokens are made short-lived for the run, so refreshes happen under load and meet
those faults too."""

import requests

# Refreshed once less than TOKEN_REFRESH_MARGIN_GOOGLE_SECONDS (300) is left: every 30 s or so.
GOOGLE_TOKEN_LIFETIME = 330
ENDPOINTS = (
    "gmail.history",
    "gmail.messages.get",
    "gmail.labels.list",  # the proxy scenario's calls: retried by the proxy (GET)
    "calendar.events.list",
    "calendar.calendarList.list",
    "google.token",
)
SERVER_ERROR = {"status": 503, "rate": 0.03}
RATE_LIMITED = {"status": 429, "rate": 0.02, "headers": {"Retry-After": "1"}}
LATENCY = {"delay": 0.8, "rate": 0.05}


def _bodies(endpoint: str) -> tuple[dict, dict]:
    """Google's error bodies: the OAuth endpoint's form, the APIs' form."""
    if endpoint == "google.token":
        return {"error": "temporarily_unavailable"}, {"error": "rate_limit_exceeded"}
    return (
        {"error": {"code": 503, "message": "Backend Error", "status": "UNAVAILABLE"}},
        {"error": {"code": 429, "message": "Rate Limit Exceeded", "status": "RESOURCE_EXHAUSTED"}},
    )


def plan() -> list[dict]:
    faults = []
    for endpoint in ENDPOINTS:
        unavailable, limited = _bodies(endpoint)
        faults += [
            {"endpoint": endpoint, **SERVER_ERROR, "body": unavailable},
            {"endpoint": endpoint, **RATE_LIMITED, "body": limited},
            {"endpoint": endpoint, **LATENCY},
        ]
    return faults


def shorten_google_tokens(sandbox_url: str) -> None:
    requests.patch(
        f"{sandbox_url}/_sandbox/config", json={"google_token_lifetime": GOOGLE_TOKEN_LIFETIME}, timeout=10
    ).raise_for_status()


def inject(sandbox_url: str) -> None:
    for fault in plan():
        requests.post(f"{sandbox_url}/_sandbox/faults", json=fault, timeout=10).raise_for_status()


def recover(sandbox_url: str) -> dict:
    """Stop the faults; returns what was injected ({endpoint: {kind: count}}) and the provider calls made."""
    requests.delete(f"{sandbox_url}/_sandbox/faults", timeout=10).raise_for_status()
    injected = requests.get(f"{sandbox_url}/_sandbox/faults", timeout=10).json()["injected"]
    calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()
    return {"injected": injected, "calls": {e: calls.get(e, 0) for e in ENDPOINTS}}
