"""Google Calendar's calendarList.list, events.watch, channels.stop and events.list with sync tokens (and 410 Gone for
an expired one), plus a test hook that changes an event and sends the channel notification to the
watch address exactly as Google does (a bodiless POST with the X-Goog-* headers), or hands the
notification back so that a load generator sends (and times) it."""

import contextlib
import secrets
import threading
import time

import flask
import requests

from local.sandbox import grants
from local.sandbox.control import SandboxState, provider_route

PAGE_SIZE = 2  # small, so that paging is exercised
# The scopes Calendar accepts for events.list, events.watch and channels.stop.
READ_SCOPES = frozenset(
    f"https://www.googleapis.com/auth/{scope}"
    for scope in ("calendar", "calendar.readonly", "calendar.events", "calendar.events.readonly")
)


def _calendar(state: SandboxState, email: str) -> dict:
    """The primary calendar of an account (call with state.lock held)."""
    return state.calendars.setdefault(email, {"seq": 0, "events": {}, "oldest_token": 0, "resource_id": secrets.token_hex(10)})


def _headers(channel: dict, state: str, number: int) -> dict:
    """The X-Goog-* headers of one channel notification."""
    headers = {
        "X-Goog-Channel-ID": channel["id"],
        "X-Goog-Resource-ID": channel["resourceId"],
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-URI": channel["resourceUri"],
        "X-Goog-Message-Number": str(number),
        "X-Goog-Channel-Expiration": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(channel["expiration"] / 1000)),
    }
    if channel.get("token"):
        headers["X-Goog-Channel-Token"] = channel["token"]
    return headers


def _notify(channel: dict, state: str, number: int) -> None:
    with contextlib.suppress(requests.RequestException):  # Google does not care whether the receiver was up
        requests.post(channel["address"], headers=_headers(channel, state, number), timeout=10)


def register(app: flask.Flask, state: SandboxState) -> None:
    @app.post("/calendar/v3/calendars/<calendar_id>/events/watch")
    @provider_route(state, "calendar.watch")
    @grants.as_google_user(state, "calendar-json.googleapis.com", READ_SCOPES)
    def calendar_watch(email, calendar_id):
        body = flask.request.get_json(force=True, silent=True) or {}
        if not body.get("id") or len(body["id"]) > 64 or body.get("type") != "web_hook" or not body.get("address"):
            return flask.jsonify({"error": {"code": 400, "message": "Invalid channel"}}), 400
        expiration = int(body.get("expiration") or (time.time() + 7 * 86400) * 1000)
        with state.lock:
            calendar = _calendar(state, email)
            channel = {
                "kind": "api#channel",
                "id": body["id"],
                "resourceId": calendar["resource_id"],
                "resourceUri": f"https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events?alt=json",
                "token": body.get("token"),
                "expiration": expiration,
                "address": body["address"],
                "email": email,
                "number": 1,
            }
            state.channels[body["id"]] = channel
        threading.Thread(target=_notify, args=(channel, "sync", 1), daemon=True).start()
        return flask.jsonify(
            {k: channel[k] for k in ("kind", "id", "resourceId", "resourceUri", "token", "expiration")}
            | {"expiration": str(expiration)}
        )

    @app.post("/calendar/v3/channels/stop")
    @provider_route(state, "calendar.channels.stop")
    @grants.as_google_user(state, "calendar-json.googleapis.com", READ_SCOPES)
    def calendar_channels_stop(_email):
        body = flask.request.get_json(force=True, silent=True) or {}
        with state.lock:
            channel = state.channels.get(body.get("id", ""))
            if channel is None or channel["resourceId"] != body.get("resourceId"):
                return flask.jsonify({"error": {"code": 404, "message": "Channel not found"}}), 404
            del state.channels[body["id"]]
        return "", 204

    @app.get("/calendar/v3/calendars/<calendar_id>/events")
    @provider_route(state, "calendar.events.list")
    @grants.as_google_user(state, "calendar-json.googleapis.com", READ_SCOPES)
    def calendar_events_list(email, calendar_id):
        args = flask.request.args
        sync_token, page = args.get("syncToken"), int(args.get("pageToken", "0") or 0)
        with state.lock:
            calendar = _calendar(state, email)
            if sync_token is not None:
                since = (
                    int(sync_token.removeprefix("sync-")) if sync_token.startswith("sync-") and sync_token[5:].isdigit() else -1
                )
                if since < calendar["oldest_token"]:
                    return flask.jsonify(
                        {
                            "error": {
                                "code": 410,
                                "message": "Sync token is no longer valid, a full sync is required.",
                                "errors": [{"domain": "global", "reason": "fullSyncRequired"}],
                            }
                        }
                    ), 410
                items = [e for e in calendar["events"].values() if e["seq"] > since]
            else:
                items = [e for e in calendar["events"].values() if e["status"] != "cancelled"]
            items.sort(key=lambda e: e["seq"])
            reply = {
                "kind": "calendar#events",
                "items": [{k: v for k, v in e.items() if k != "seq"} for e in items[page : page + PAGE_SIZE]],
            }
            if page + PAGE_SIZE < len(items):
                reply["nextPageToken"] = str(page + PAGE_SIZE)
            else:
                reply["nextSyncToken"] = f"sync-{calendar['seq']}"
            return flask.jsonify(reply)

    @app.get("/calendar/v3/users/me/calendarList")
    @provider_route(state, "calendar.calendarList.list")
    @grants.as_google_user(state, "calendar-json.googleapis.com", READ_SCOPES)
    def calendar_list(email):
        with state.lock:
            resource_id = _calendar(state, email)["resource_id"]
        entry = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{resource_id[:12]}"',
            "id": email,
            "summary": email,
            "timeZone": "UTC",
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
            "primary": True,
        }
        return flask.jsonify(
            {"kind": "calendar#calendarList", "etag": f'"{resource_id[12:]}"', "nextSyncToken": "sync-list", "items": [entry]}
        )

    @app.post("/_sandbox/calendar/change")
    def sandbox_calendar_change():
        """{"email", "action": create|update|cancel, "eventId"?, "summary"?, "notify": true}: change an event,
        then notify every channel; with "notify": false, the notifications come back in the reply instead
        ({"address", "headers"} each), for the caller to deliver."""
        body = flask.request.get_json(force=True)
        email = body["email"].lower()
        with state.lock:
            calendar = _calendar(state, email)
            calendar["seq"] += 1
            event_id = body.get("eventId") or secrets.token_hex(8)
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            event = calendar["events"].setdefault(
                event_id,
                {
                    "kind": "calendar#event",
                    "id": event_id,
                    "created": now,
                    "start": {"dateTime": "2026-12-01T10:00:00Z"},
                    "end": {"dateTime": "2026-12-01T11:00:00Z"},
                    "htmlLink": f"https://calendar.google.com/event?eid={event_id}",
                },
            )
            event.update(seq=calendar["seq"], updated=now, status="cancelled" if body.get("action") == "cancel" else "confirmed")
            if body.get("summary"):
                event["summary"] = body["summary"]
            channels = [c for c in state.channels.values() if c["email"] == email]
            for channel in channels:
                channel["number"] += 1
            numbered = [(channel, channel["number"]) for channel in channels]
        if not body.get("notify", True):
            pending = [{"address": c["address"], "headers": _headers(c, "exists", n)} for c, n in numbered]
            return flask.jsonify({"eventId": event_id, "notified": 0, "notifications": pending})
        for channel, number in numbered:
            _notify(channel, "exists", number)
        return flask.jsonify({"eventId": event_id, "notified": len(channels)})

    @app.post("/_sandbox/calendar/expire-sync-tokens")
    def sandbox_calendar_expire():
        email = flask.request.get_json(force=True)["email"].lower()
        with state.lock:
            calendar = _calendar(state, email)
            calendar["oldest_token"] = calendar["seq"] + 1
        return "", 204

    @app.get("/_sandbox/calendar/channels")
    def sandbox_calendar_channels():
        with state.lock:
            return flask.jsonify(
                [{k: c[k] for k in ("id", "resourceId", "token", "email", "expiration")} for c in state.channels.values()]
            )
