"""What tests and load runs steer the sandbox with, over HTTP: per-endpoint call counters, queued
faults (next N calls answer a given status/body/headers, optionally after a delay), standing faults
(each call has a given chance of one, for load runs) with a count of those served, the headers of
each endpoint's last request (what a proxy forwarded), holds (a call is
answered for real but its reply waits until the test releases it, so a test can act between a
provider's answer and what the caller does with it), behaviour switches, and a reset. Every provider
route is wrapped by `provider_route`."""

import copy
import functools
import os
import random
import threading
import time

import flask

TOKEN_ENDPOINT = "slack.oauth.v2.access"  # code exchanges and refreshes: this, and every "<family>.token"
MAX_TOKEN_LATENCY_MS = 10000
HOLD_LIMIT_SECONDS = 60  # a held reply is sent after this even if no test releases it
WAIT_LIMIT_SECONDS = 30  # how long /_sandbox/holds/<name>/wait waits for the call to arrive

DEFAULT_CONFIG = {
    "slack_rotation": True,  # token rotation: expires_in + refresh_token on Slack user tokens
    "slack_token_lifetime": 43200,
    "google_token_lifetime": 3599,
    # False: a repeat consent returns no refresh_token, as Google does without prompt=consent
    "google_reconsent_refresh_token": True,
    # How long each token endpoint call takes, as a provider far away would (SANDBOX_TOKEN_LATENCY_MS).
    "token_latency_ms": int(os.environ.get("SANDBOX_TOKEN_LATENCY_MS") or 0),
}


class Hold:
    """One held reply: `arrived` when the call has been answered and is waiting, `released` to send it."""

    def __init__(self):
        self.arrived, self.released = threading.Event(), threading.Event()


class SandboxState:
    def __init__(self):
        self.lock = threading.RLock()
        self.holds: dict[str, Hold] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            for hold in self.holds.values():
                hold.released.set()  # no request stays blocked past a reset
            self.holds = {}
            self.calls: dict[str, int] = {}
            self.last_headers: dict[str, dict[str, str]] = {}  # the newest request's headers, by endpoint
            self.refreshes: dict[str, int] = {}  # refresh grants honoured, by account ("slack:T..:U..", "google:email")
            self.faults: dict[str, list[dict]] = {}  # queued: the next calls answer these, in order
            self.standing: dict[str, list[dict]] = {}  # each call meets one of these with its `rate`
            self.injected: dict[str, dict[str, int]] = {}  # faults served, by endpoint and kind
            self.config = copy.deepcopy(DEFAULT_CONFIG)
            self.pending: dict[str, dict] = {}  # consent requests shown, by id
            self.codes: dict[str, dict] = {}  # authorization codes, single use
            self.tokens: dict[str, dict] = {}  # every live access or refresh token -> its grant
            self.grants: dict[tuple, set] = {}  # (family, account) -> scopes granted so far
            self.revoked: list[str] = []  # tokens revoked, for tests to read
            self.issued: list[str] = []  # every token ever issued, for the no-plaintext-at-rest test
            self.mailboxes: dict[str, dict] = {}  # Gmail, by account email
            self.calendars: dict[str, dict] = {}  # Calendar, by account email
            self.channels: dict[str, dict] = {}  # Calendar push channels, by id
            self.app_webhooks: list[dict] = []  # deliveries to the app's receiver (app_webhooks.py)
            self.app_webhook_failures: list[dict] = []  # queued: the next deliveries answer these

    def next_fault(self, endpoint: str) -> dict | None:
        with self.lock:
            self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
            queue = self.faults.get(endpoint) or []
            if queue:
                fault = queue[0]
                fault["count"] -= 1
                if fault["count"] <= 0:
                    queue.pop(0)
            else:
                fault = next((f for f in self.standing.get(endpoint, []) if random.random() < f["rate"]), None)
            if fault:
                kinds = self.injected.setdefault(endpoint, {})
                kind = fault_kind(fault)
                kinds[kind] = kinds.get(kind, 0) + 1
            return fault


def fault_kind(fault: dict) -> str:
    """How a fault is counted: its status, "hold" for a held reply, "latency" for a delay alone."""
    return str(fault["status"]) if fault.get("status") else "hold" if fault.get("hold") else "latency"


def provider_route(state: SandboxState, endpoint: str):
    """Count the call, then answer with a queued fault if there is one, else run the handler."""

    def decorate(handler):
        @functools.wraps(handler)
        def run(*args, **kwargs):
            with state.lock:
                state.last_headers[endpoint] = dict(flask.request.headers)
            fault = state.next_fault(endpoint)
            if (endpoint == TOKEN_ENDPOINT or endpoint.endswith(".token")) and state.config["token_latency_ms"]:
                time.sleep(state.config["token_latency_ms"] / 1000)
            if fault:
                if fault.get("delay"):
                    time.sleep(fault["delay"])
                if fault.get("status"):
                    return flask.jsonify(fault.get("body", {})), fault["status"], fault.get("headers", {})
                if fault.get("hold"):
                    reply = handler(*args, **kwargs)  # the provider has acted; only its answer waits
                    hold = state.holds.get(fault["hold"])
                    if hold is not None:  # None: the sandbox was reset meanwhile
                        hold.arrived.set()
                        hold.released.wait(HOLD_LIMIT_SECONDS)
                    return reply
            return handler(*args, **kwargs)

        return run

    return decorate


def register(app: flask.Flask, state: SandboxState) -> None:
    @app.post("/_sandbox/reset")
    def sandbox_reset():
        state.reset()
        return "", 204

    @app.get("/_sandbox/calls")
    def sandbox_calls():
        with state.lock:
            return flask.jsonify(state.calls)

    @app.delete("/_sandbox/calls")
    def sandbox_reset_calls():
        with state.lock:
            state.calls.clear()
            state.refreshes.clear()
        return "", 204

    @app.get("/_sandbox/requests/<endpoint>/headers")
    def sandbox_last_headers(endpoint: str):
        """The headers of the newest call to an endpoint (404 before the first)."""
        with state.lock:
            headers = state.last_headers.get(endpoint)
        return flask.jsonify(headers) if headers is not None else (flask.jsonify({"error": "no call yet"}), 404)

    @app.get("/_sandbox/refreshes")
    def sandbox_refreshes():
        """Refreshes honoured per account since the last reset of the calls: how often each
        connection was refreshed (the endpoint counts cannot tell connections apart)."""
        with state.lock:
            return flask.jsonify(state.refreshes)

    @app.post("/_sandbox/faults")
    def sandbox_add_fault():
        """{"endpoint": "google.token", "count": 2, "status": 503, "body": {...}, "headers": {...}, "delay": 0.5}
        queues a fault for the next `count` calls; with "rate": 0.05 instead of a count, every call
        meets it with that chance until the faults are cleared. {"endpoint": ..., "hold": "name"}
        holds the next call's real reply until /_sandbox/holds/name/release."""
        fault = flask.request.get_json(force=True)
        if (
            not isinstance(fault, dict)
            or not fault.get("endpoint")
            or not (fault.get("status") or fault.get("delay") or fault.get("hold"))
        ):
            return flask.jsonify({"error": "endpoint and status, delay or hold are required"}), 400
        rate = fault.get("rate")
        if rate is not None and not (isinstance(rate, (int, float)) and 0 < rate <= 1):
            return flask.jsonify({"error": "rate must be in (0, 1]"}), 400
        if fault.get("hold") and (rate is not None or not isinstance(fault["hold"], str)):
            return flask.jsonify({"error": "a hold is a name, for queued calls only"}), 400
        with state.lock:
            if fault.get("hold"):
                state.holds[fault["hold"]] = Hold()
            if rate is None:
                fault.setdefault("count", 1)
                state.faults.setdefault(fault.pop("endpoint"), []).append(fault)
            else:
                state.standing.setdefault(fault.pop("endpoint"), []).append(fault)
        return "", 204

    @app.get("/_sandbox/faults")
    def sandbox_faults():
        """The faults served so far ({endpoint: {kind: count}}), and those still queued or standing."""
        with state.lock:
            return flask.jsonify({"injected": state.injected, "queued": state.faults, "standing": state.standing})

    @app.post("/_sandbox/holds/<name>/wait")
    def sandbox_wait_for_hold(name: str):
        """Answers once the held call has arrived (its reply computed, not sent): 204, or 404 / 504."""
        hold = state.holds.get(name)
        if hold is None:
            return flask.jsonify({"error": "no such hold"}), 404
        return ("", 204) if hold.arrived.wait(WAIT_LIMIT_SECONDS) else (flask.jsonify({"error": "the call did not come"}), 504)

    @app.post("/_sandbox/holds/<name>/release")
    def sandbox_release_hold(name: str):
        hold = state.holds.get(name)
        if hold is None:
            return flask.jsonify({"error": "no such hold"}), 404
        hold.released.set()
        return "", 204

    @app.delete("/_sandbox/faults")
    def sandbox_clear_faults():
        """The provider recovers: no more faults (the counts of those served are kept)."""
        with state.lock:
            state.faults.clear()
            state.standing.clear()
        return "", 204

    @app.patch("/_sandbox/config")
    def sandbox_config():
        changes = flask.request.get_json(force=True)
        unknown = set(changes) - set(DEFAULT_CONFIG)
        if unknown:
            return flask.jsonify({"error": f"unknown settings {sorted(unknown)}"}), 400
        latency = changes.get("token_latency_ms", 0)
        if type(latency) is not int or not 0 <= latency <= MAX_TOKEN_LATENCY_MS:
            return flask.jsonify({"error": f"token_latency_ms must be a whole number from 0 to {MAX_TOKEN_LATENCY_MS}"}), 400
        with state.lock:
            state.config.update(changes)
            return flask.jsonify(state.config)

    @app.post("/_sandbox/expire")
    def sandbox_expire_token():
        """{"token": "..."}: that token now fails as expired (an expired access token's refresh token still works)."""
        token = (flask.request.get_json(force=True) or {}).get("token", "")
        with state.lock:
            if token not in state.tokens:
                return flask.jsonify({"error": "unknown token"}), 404
            state.tokens[token]["expires_at"] = 1
        return "", 204

    @app.get("/_sandbox/revoked")
    def sandbox_revoked():
        with state.lock:
            return flask.jsonify(state.revoked)

    @app.get("/_sandbox/issued")
    def sandbox_issued():
        with state.lock:
            return flask.jsonify(state.issued)
