"""Requests signed exactly as Slack signs them."""

import json
import time
import urllib.parse

from common.slack_signature import sign

SECRET = "dev-slack-signing-secret"


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(secret, stamp, body)}


def event_envelope(event_id: str, event: dict, team_id: str = "T0ACME", authorized: tuple = ("U0ALICE",)) -> dict:
    return {
        "token": "unused-verification-token",
        "team_id": team_id,
        "api_app_id": "A0GATEWAY",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1763726400,
        "event": {"event_ts": "1763726400.000100", **event},
        "authorizations": [
            {"enterprise_id": None, "team_id": team_id, "user_id": u, "is_bot": False, "is_enterprise_install": False}
            for u in authorized
        ],
        "is_ext_shared_channel": False,
    }


def post_event(session, envelope: dict, **headers):
    body = json.dumps(envelope).encode()
    return session.post(
        "/api/v1/webhooks/slack/events", data=body, headers={"Content-Type": "application/json", **signed(body), **headers}
    )


def post_interaction(session, payload: dict):
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return session.post(
        "/api/v1/webhooks/slack/interactions",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)},
    )
