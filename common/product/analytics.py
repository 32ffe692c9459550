"""Product analytics: the integrations analytics plan's events, published to `analytics-events`
(a BigQuery subscription stores them). Publishing never blocks or fails a user request: the publish
is not waited for, and any failure is only logged."""

import json

from common.platform.clients import analytics_publisher_client
from common.platform.logs import current_trace, get_logger, traceparent
from common.platform.settings import get_settings
from common.platform.timeutil import iso, utcnow

log = get_logger(__name__)
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
        publisher = analytics_publisher_client()
        path = publisher.topic_path(get_settings().gcp_project, get_settings().topic_analytics_events)
        future = publisher.publish(path, json.dumps(record, default=str).encode(), event=event, traceparent=traceparent())
        future.add_done_callback(
            lambda done: (
                done.exception()
                and log.warning(
                    "analytics event not published", extra={"fields": {"event": event, "error": type(done.exception()).__name__}}
                )
            )
        )
    except Exception as error:
        log.warning("analytics event not published", extra={"fields": {"event": event, "error": type(error).__name__}})
