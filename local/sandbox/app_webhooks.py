"""The app's side of the gateway's signed webhooks (docs/app-webhooks.md), built as an app would
build it: `POST /_sandbox/app-webhooks` verifies each delivery with the standardwebhooks library
and APP_WEBHOOK_SECRET, records it (verified or not: id, timestamp, signature, body, the status it
was answered with) and answers 204, 401 when the signature does not verify, or a queued failure.
`GET /_sandbox/app-webhooks[?uid=]` lists the deliveries, oldest first (tests and the dev console
read them); `POST /_sandbox/app-webhooks/failures {"count": N, "status": 503, "delay": seconds}`
fails the next N verified deliveries (for retry tests; a 2xx status with a delay: a slow answer,
for timeouts). A reset of the sandbox forgets both."""

import json
import time

import flask
from standardwebhooks import Webhook, WebhookVerificationError

from local.sandbox.control import SandboxState

MAX_KEPT = 2000  # deliveries kept; older ones are forgotten


def _next_failure(state: SandboxState) -> dict | None:
    with state.lock:
        if not state.app_webhook_failures:
            return None
        failure = state.app_webhook_failures[0]
        failure["count"] -= 1
        if failure["count"] <= 0:
            state.app_webhook_failures.pop(0)
        return failure


def _verified(webhook: Webhook, body: bytes, headers) -> tuple[bool, str | None]:
    try:
        webhook.verify(body, dict(headers))
    except (WebhookVerificationError, ValueError) as error:
        return False, str(error)
    return True, None


def _parsed(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def register(app: flask.Flask, state: SandboxState, secret: str) -> None:
    webhook = Webhook(secret)

    @app.post("/_sandbox/app-webhooks")
    def app_webhook_receive():
        body, headers = flask.request.get_data(), flask.request.headers
        verified, error = _verified(webhook, body, headers)
        failure = _next_failure(state) if verified else None
        status = failure["status"] if failure and failure["status"] >= 300 else 204 if verified else 401
        with state.lock:
            state.app_webhooks.append(
                {
                    "webhookId": headers.get("webhook-id"),
                    "timestamp": headers.get("webhook-timestamp"),
                    "signature": headers.get("webhook-signature"),
                    "verified": verified,
                    "error": error,
                    "answered": status,
                    "receivedAt": time.time(),
                    "body": _parsed(body),
                }
            )
            del state.app_webhooks[:-MAX_KEPT]
        if failure and failure.get("delay"):
            time.sleep(failure["delay"])
        if status == 204:
            return "", 204
        return flask.jsonify({"error": error or "failure injected"}), status

    @app.get("/_sandbox/app-webhooks")
    def app_webhook_list():
        uid = flask.request.args.get("uid")
        with state.lock:
            listed = [d for d in state.app_webhooks if uid is None or _uid_of(d) == uid]
        return flask.jsonify(listed)

    @app.post("/_sandbox/app-webhooks/failures")
    def app_webhook_fail_next():
        failure = flask.request.get_json(force=True, silent=True)
        count, status = (failure or {}).get("count", 1), (failure or {}).get("status", 503)
        delay = (failure or {}).get("delay", 0)
        if not (isinstance(count, int) and count > 0 and isinstance(status, int) and 200 <= status < 600):
            return flask.jsonify({"error": "count must be a positive number and status an HTTP status"}), 400
        if not isinstance(delay, (int, float)) or not 0 <= delay <= 60 or (status < 300 and not delay):
            return flask.jsonify({"error": "delay must be 0 to 60 seconds (more than 0 with a 2xx status)"}), 400
        with state.lock:
            state.app_webhook_failures.append({"count": count, "status": status, "delay": delay})
        return "", 204


def _uid_of(delivery: dict) -> str | None:
    body = delivery["body"]
    data = body.get("data") if isinstance(body, dict) else None
    return data.get("uid") if isinstance(data, dict) else None
