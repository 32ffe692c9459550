"""Gmail's watch, stop, history, messages, labels and profile calls, and a test hook that "delivers" a new
message and publishes the notification to the watch's topic exactly as Gmail does
({emailAddress, historyId} as base64 JSON on the Pub/Sub emulator)."""

import json
import secrets
import time

import flask

from local.sandbox import grants
from local.sandbox.control import SandboxState, provider_route

WATCH_LIFETIME_MS = 7 * 24 * 3600 * 1000
# The scopes Gmail accepts for the read-only methods the gateway calls (watch, stop, profile, history, messages).
READ_SCOPES = frozenset(
    f"https://{scope}"
    for scope in (
        "mail.google.com/",
        "www.googleapis.com/auth/gmail.modify",
        "www.googleapis.com/auth/gmail.readonly",
        "www.googleapis.com/auth/gmail.metadata",
    )
)


def _box(state: SandboxState, email: str) -> dict:
    """The mailbox of an account (call with state.lock held)."""
    empty = {"history_id": 1000, "messages": [], "history": [], "oldest_history": 1000, "watch": None}
    return state.mailboxes.setdefault(email, empty)


def _publish(topic_name: str, payload: dict) -> None:
    from google.cloud import pubsub_v1

    pubsub_v1.PublisherClient().publish(topic_name, json.dumps(payload).encode()).result(timeout=10)


def register(app: flask.Flask, state: SandboxState) -> None:
    @app.post("/gmail/v1/users/me/watch")
    @provider_route(state, "gmail.watch")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_watch(email):
        body = flask.request.get_json(force=True, silent=True) or {}
        if not str(body.get("topicName", "")).startswith("projects/"):
            return flask.jsonify({"error": {"code": 400, "message": "Invalid topicName", "status": "INVALID_ARGUMENT"}}), 400
        with state.lock:
            box = _box(state, email)
            box["watch"] = {"topic": body["topicName"], "labels": body.get("labelIds") or []}
            return flask.jsonify(
                {"historyId": str(box["history_id"]), "expiration": str(int(time.time() * 1000) + WATCH_LIFETIME_MS)}
            )

    @app.post("/gmail/v1/users/me/stop")
    @provider_route(state, "gmail.stop")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_stop(email):
        with state.lock:
            _box(state, email)["watch"] = None
        return "", 204

    @app.get("/gmail/v1/users/me/profile")
    @provider_route(state, "gmail.profile")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_profile(email):
        with state.lock:
            box = _box(state, email)
            return flask.jsonify(
                {"emailAddress": email, "messagesTotal": len(box["messages"]), "historyId": str(box["history_id"])}
            )

    @app.get("/gmail/v1/users/me/labels")
    @provider_route(state, "gmail.labels.list")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_labels_list(_email):
        system = [
            {"id": label, "name": label, "messageListVisibility": "hide", "labelListVisibility": "labelShow", "type": "system"}
            for label in ("INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT")
        ]
        return flask.jsonify({"labels": system})

    @app.get("/gmail/v1/users/me/history")
    @provider_route(state, "gmail.history")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_history(email):
        args = flask.request.args
        start = int(args.get("startHistoryId", "0") or 0)
        page = int(args.get("pageToken", "0") or 0)
        size = min(int(args.get("maxResults", "2")), 500)
        with state.lock:
            box = _box(state, email)
            if start < box["oldest_history"]:
                return flask.jsonify(
                    {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
                ), 404
            records = [h for h in box["history"] if h["id"] > start]
            reply = {
                "history": [{**h, "id": str(h["id"])} for h in records[page : page + size]],
                "historyId": str(box["history_id"]),
            }
            if page + size < len(records):
                reply["nextPageToken"] = str(page + size)
            return flask.jsonify(reply)

    @app.get("/gmail/v1/users/me/messages")
    @provider_route(state, "gmail.messages.list")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_messages_list(email):
        size = min(int(flask.request.args.get("maxResults", "100")), 500)
        with state.lock:
            newest = list(reversed(_box(state, email)["messages"]))[:size]
            return flask.jsonify(
                {"messages": [{"id": m["id"], "threadId": m["threadId"]} for m in newest], "resultSizeEstimate": len(newest)}
            )

    @app.get("/gmail/v1/users/me/messages/<message_id>")
    @provider_route(state, "gmail.messages.get")
    @grants.as_google_user(state, "gmail.googleapis.com", READ_SCOPES)
    def gmail_message(email, message_id):
        with state.lock:
            found = next((m for m in _box(state, email)["messages"] if m["id"] == message_id), None)
        if found is None:
            return flask.jsonify(
                {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
            ), 404
        headers = [
            {"name": name, "value": found[key]}
            for name, key in (("From", "from"), ("To", "to"), ("Subject", "subject"), ("Date", "date"))
        ]
        wanted = set(flask.request.args.getlist("metadataHeaders"))
        return flask.jsonify(
            {
                "id": found["id"],
                "threadId": found["threadId"],
                "labelIds": found["labels"],
                "snippet": found["snippet"],
                "historyId": str(found["historyId"]),
                "internalDate": str(found["internalDate"]),
                "payload": {"mimeType": "text/plain", "headers": [h for h in headers if not wanted or h["name"] in wanted]},
            }
        )

    @app.post("/_sandbox/gmail/deliver")
    def sandbox_gmail_deliver():
        """{"email", "from", "subject", "snippet", "notify": true}: a new INBOX message, then Gmail's push."""
        body = flask.request.get_json(force=True)
        email = body["email"].lower()
        with state.lock:
            box = _box(state, email)
            box["history_id"] += 1
            message = {
                "id": secrets.token_hex(8),
                "threadId": secrets.token_hex(8),
                "labels": ["INBOX", "UNREAD"],
                "from": body.get("from", "sender@example.com"),
                "to": email,
                "subject": body.get("subject", "Hello"),
                "snippet": body.get("snippet", ""),
                "date": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
                "historyId": box["history_id"],
                "internalDate": int(time.time() * 1000),
            }
            box["messages"].append(message)
            box["history"].append(
                {
                    "id": box["history_id"],
                    "messages": [{"id": message["id"], "threadId": message["threadId"]}],
                    "messagesAdded": [
                        {"message": {"id": message["id"], "threadId": message["threadId"], "labelIds": message["labels"]}}
                    ],
                }
            )
            watch, history_id = box["watch"], box["history_id"]
        if watch and body.get("notify", True):
            _publish(watch["topic"], {"emailAddress": email, "historyId": history_id})
        return flask.jsonify({"id": message["id"], "historyId": history_id, "notified": bool(watch)})

    @app.post("/_sandbox/gmail/expire-history")
    def sandbox_gmail_expire_history():
        """{"email"}: history before now is gone, as after about a week; an older startHistoryId gets 404."""
        email = flask.request.get_json(force=True)["email"].lower()
        with state.lock:
            box = _box(state, email)
            box["oldest_history"] = box["history_id"]
            box["history"] = []
        return "", 204

    @app.post("/_sandbox/gmail/notify")
    def sandbox_gmail_notify():
        """{"email", "historyId"}: publish a notification as Gmail would (for duplicate-delivery tests)."""
        body = flask.request.get_json(force=True)
        with state.lock:
            watch = _box(state, body["email"].lower())["watch"]
        if not watch:
            return flask.jsonify({"error": "no watch"}), 409
        _publish(watch["topic"], {"emailAddress": body["email"].lower(), "historyId": body["historyId"]})
        return "", 204

    @app.get("/_sandbox/gmail/watch")
    def sandbox_gmail_watch_state():
        with state.lock:
            return flask.jsonify(_box(state, flask.request.args["email"].lower())["watch"])
