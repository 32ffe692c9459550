"""Request bodies the load run sends, in the providers' wire formats: a Pub/Sub push delivery (what
the emulator, or Google, POSTs to a consumer) and a signed Slack event. Pure."""

import base64
import datetime
import json
import uuid

from common.webhooks.slack_signature import sign

PROJECT = "demo-gateway"


def push_delivery(consumer: str, payload: dict, attributes: dict | None = None, message_id: str | None = None) -> bytes:
    """A Pub/Sub push request body for `consumer`; the same message_id twice is a duplicate delivery."""
    published = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message_id = message_id or uuid.uuid4().hex
    envelope = {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "attributes": attributes or {},
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": f"projects/{PROJECT}/subscriptions/{consumer}-push",
    }
    return json.dumps(envelope).encode()


def slack_message_event(event_id: str, team_id: str, user_id: str, text: str, now: float) -> bytes:
    """An event_callback envelope for a channel message by `user_id`, authorized for that user."""
    return json.dumps(
        {
            "token": "unused-verification-token",
            "team_id": team_id,
            "api_app_id": "A0GATEWAY",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(now),
            "event": {"type": "message", "channel": "C0LOAD", "user": user_id, "text": text, "ts": f"{now:.6f}"},
            "authorizations": [
                {"enterprise_id": None, "team_id": team_id, "user_id": user_id, "is_bot": False, "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
        }
    ).encode()


def slack_signature_headers(secret: str, body: bytes, now: float) -> dict:
    stamp = str(int(now))
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(secret, stamp, body),
    }
