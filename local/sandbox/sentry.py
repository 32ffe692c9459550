"""Sentry's ingestion endpoint, as the Sentry SDK speaks to it: `POST /sentry/api/<project>/envelope/`
with an `X-Sentry-Auth` header and an envelope body (gzip or brotli compressed; a JSON header line,
then items, each a JSON header line and a payload of `length` bytes or up to the next newline).
The stack points SENTRY_DSN here, so errors seen locally can be read at `GET /_sandbox/sentry`."""

import gzip
import json
import threading

import flask


class SentryInbox:
    def __init__(self):
        self.lock = threading.Lock()
        self.events: list[dict] = []


def parse_envelope(body: bytes) -> list[tuple[dict, bytes]]:
    """The (item header, payload) pairs of an envelope; raises ValueError when it is malformed."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


def _decompressed(request: flask.Request) -> bytes:
    encoding = request.headers.get("Content-Encoding", "")
    if encoding == "gzip":
        return gzip.decompress(request.get_data())
    if encoding == "br":
        import brotli  # the dev environment has it; the SDK only picks brotli when it is installed

        return brotli.decompress(request.get_data())
    return request.get_data()


def register(app: flask.Flask, inbox: SentryInbox) -> None:
    @app.post("/sentry/api/<int:project>/envelope/")
    def sentry_envelope(project: int):
        if "sentry_key=" not in flask.request.headers.get("X-Sentry-Auth", ""):
            return flask.jsonify({"detail": "missing authorization information"}), 401
        try:
            items = parse_envelope(_decompressed(flask.request))
            events = [json.loads(payload) for header, payload in items if header.get("type") == "event"]
            if not all(isinstance(event, dict) for event in events):
                raise ValueError("an event is not an object")
        except Exception:  # whatever is malformed (compression, framing, JSON) is the client's error
            return flask.jsonify({"detail": "invalid envelope"}), 400
        with inbox.lock:
            inbox.events += [{"project": project, **event} for event in events]
        return flask.jsonify({"id": events[0].get("event_id") if events else None})

    @app.get("/_sandbox/sentry")
    def sandbox_sentry_events():
        with inbox.lock:
            return flask.jsonify(inbox.events)
