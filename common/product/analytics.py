"""Product analytics: the integrations analytics plan's events, published to `analytics-events`
(a BigQuery subscription stores them). Publishing never blocks or fails a user request: `track`
only queues the event, and any failure to send is only logged.

One sender thread per process sends what is queued every SEND_WINDOW_SECONDS, in one Publish call
per 1,000 events. The batching client did the same job with a future, a lock and a protobuf per
event on the request's thread and two new threads per batch (6.7% of a Slack ack's CPU). What is
queued when an instance stops is lost, as it was in the batching client's window; at most
MAX_QUEUED events wait, the oldest dropped (and counted in a warning) beyond."""

import collections
import json
import os
import threading
import time

from common.platform.logs import current_trace, get_logger, traceparent
from common.platform.settings import get_settings
from common.platform.timeutil import iso, utcnow
from common.product.events import publish_messages, topic_path

log = get_logger(__name__)
SEND_WINDOW_SECONDS = 0.05
MAX_QUEUED = 10_000
PUBLISH_BATCH = 1_000  # Pub/Sub's limit on the messages of one Publish call
EVENTS = frozenset(
    {
        "integration_connection_initiated",
        "integration_connection_authorized",
        "integration_connection_completed",
        "integration_connection_failed",
        "integration_oauth_redirect",
        "integration_oauth_callback_received",
        "integration_oauth_token_exchange",
        "integration_oauth_error",
        "integration_token_refresh_attempted",
        "integration_token_refresh_success",
        "integration_token_refresh_failed",
        "integration_webhook_received",
        "integration_webhook_processed",
        "integration_webhook_failed",
    }
)


def track(
    event: str,
    *,
    uid: str | None = None,
    provider: str | None = None,
    duration_ms: float | None = None,
    status: str | None = None,
    error_code: str | None = None,
    variant: str | None = None,
    **details,
) -> None:
    """Fire and forget one analytics event (never a token in it: callers pass names and codes only)."""
    if event not in EVENTS:
        raise ValueError(f"unknown analytics event {event}")
    record = {
        "event": event,
        "time": iso(utcnow()),
        "uid": uid,
        "provider": provider,
        "durationMs": duration_ms,
        "status": status,
        "errorCode": error_code,
        "variant": variant,
        "trace": current_trace(),
        **details,
    }
    try:
        _queue.put(json.dumps(record, default=str).encode(), {"event": event, "traceparent": traceparent()})
    except Exception as error:  # no thread to start, a record json cannot encode: the request goes on
        log.warning("analytics event not queued", extra={"fields": {"event": event, "error": type(error).__name__}})


class EventQueue:
    """Events waiting for the sender thread, which starts with the first event of the process."""

    def __init__(self):
        self._forget_parent()
        os.register_at_fork(after_in_child=self._forget_parent)

    def _forget_parent(self) -> None:
        """A forked child starts empty: its parent sends its own events, and its locks may be held."""
        self._events: collections.deque = collections.deque(maxlen=MAX_QUEUED)  # full: the oldest goes
        self._waiting = threading.Event()
        self._start_lock = threading.Lock()
        self._sender_pid: int | None = None  # a forked child has no sender thread until it starts one
        self.dropped = 0

    def put(self, data: bytes, attributes: dict) -> None:
        if len(self._events) == MAX_QUEUED:
            self.dropped += 1
        self._events.append((data, attributes))
        self._waiting.set()
        if self._sender_pid != os.getpid():
            self._start_sender()

    def _start_sender(self) -> None:
        with self._start_lock:
            if self._sender_pid != os.getpid():
                threading.Thread(target=self._send_forever, name="analytics-sender", daemon=True).start()
                self._sender_pid = os.getpid()

    def _send_forever(self) -> None:
        while True:
            self._waiting.wait()
            time.sleep(SEND_WINDOW_SECONDS)
            self._waiting.clear()
            try:
                self.send_queued()
            except Exception as error:  # the thread must outlive any one send, or nothing is sent again
                log.warning("analytics send failed", extra={"fields": {"error": type(error).__name__}})

    def send_queued(self) -> None:
        """Send what is queued now (the sender's step; tests call it to send at once)."""
        left = len(self._events)  # what came in while sending waits for the next window
        while left > 0 and (batch := self._taken(min(left, PUBLISH_BATCH))):
            self._send(batch)
            left -= len(batch)
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            log.warning("analytics events dropped: queue full", extra={"fields": {"count": dropped}})

    def _taken(self, most: int) -> list[tuple[bytes, dict]]:
        taken = []
        while len(taken) < most:
            try:
                taken.append(self._events.popleft())
            except IndexError:  # empty (a test's send_queued may drain beside the sender)
                break
        return taken

    @staticmethod
    def _send(batch: list[tuple[bytes, dict]]) -> None:
        try:
            publish_messages(topic_path(get_settings().topic_analytics_events), batch)
        except Exception as error:
            log.warning("analytics events not published", extra={"fields": {"count": len(batch), "error": type(error).__name__}})


_queue = EventQueue()
