"""Slack's side of the Events API: an `event_callback` envelope built as Slack builds it, signed
with the app's signing secret and POSTed to the app's Request URL (the gateway's events webhook),
and a control endpoint that posts a channel message that way (the console's "Slack message" button)."""

import json
import secrets
import time

import flask
import requests

from common.platform.secrets import get_secret
from common.platform.settings import get_settings
from common.webhooks.slack_signature import sign

APP_ID = "A0SANDBOX"
EVENTS_PATH = "/api/v1/webhooks/slack/events"
CHANNEL = "C0SANDBOX"


def event_callback(team_id: str, event: dict, event_id: str, event_time: int, authorized: tuple[str, ...]) -> dict:
    """The envelope Slack wraps every event in; `authorized` are the users the event is visible to."""
    return {
        "token": "sandbox-verification-token",  # deprecated by Slack, still sent
        "team_id": team_id,
        "api_app_id": APP_ID,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "event": event,
        "authorizations": [
            {"enterprise_id": None, "team_id": team_id, "user_id": user, "is_bot": False, "is_enterprise_install": False}
            for user in authorized
        ],
        "is_ext_shared_channel": False,
    }


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(secret, stamp, body)}


def deliver(envelope: dict) -> requests.Response:
    """POST the envelope to the Request URL, signed, as Slack does (one attempt: no retries here)."""
    body = json.dumps(envelope).encode()
    url = f"{get_settings().public_base_url}{EVENTS_PATH}"
    headers = {"Content-Type": "application/json", **signed_headers(get_secret("SLACK_SIGNING_SECRET"), body)}
    return requests.post(url, data=body, headers=headers, timeout=10)


def register(app: flask.Flask) -> None:
    @app.post("/_sandbox/slack/message")
    def sandbox_slack_message():
        """{"teamId", "userId", "text", "channel"?}: that user posts the text in a channel; Slack sends the event."""
        body = flask.request.get_json(force=True, silent=True) or {}
        team_id, user_id, text = body.get("teamId"), body.get("userId"), body.get("text")
        if not all(isinstance(v, str) and v for v in (team_id, user_id, text)):
            return flask.jsonify({"error": "teamId, userId and text are required"}), 400
        now = time.time()
        ts = f"{now:.6f}"
        event = {
            "type": "message",
            "channel": body.get("channel") or CHANNEL,
            "channel_type": "channel",
            "user": user_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
        }
        envelope = event_callback(team_id, event, f"Ev{secrets.token_hex(6).upper()}", int(now), (user_id,))
        try:
            reply = deliver(envelope)
        except requests.RequestException as error:
            return flask.jsonify({"error": f"the Request URL did not answer: {error.__class__.__name__}"}), 502
        return flask.jsonify({"eventId": envelope["event_id"], "status": reply.status_code, "reply": _json_or_text(reply)})


def _json_or_text(reply: requests.Response):
    try:
        return reply.json()
    except ValueError:
        return reply.text[:500]
