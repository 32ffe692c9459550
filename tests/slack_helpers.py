"""Requests signed exactly as Slack signs them (the sandbox's Slack builds and signs them the same way)."""

import json
import urllib.parse

from local.sandbox.slack_events import event_callback, signed_headers

SECRET = "dev-slack-signing-secret"


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    return signed_headers(secret, body, timestamp)


def event_envelope(event_id: str, event: dict, team_id: str = "T0ACME", authorized: tuple = ("U0ALICE",)) -> dict:
    """Slack's envelope at a fixed time (due dates in action items are relative to it)."""
    return event_callback(team_id, {"event_ts": "1763726400.000100", **event}, event_id, 1763726400, authorized)


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
