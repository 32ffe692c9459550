"""Error reporting to Sentry when SENTRY_DSN is set: every error-level log line (the unexpected
exceptions of HTTP functions and consumers are logged at that level) becomes a Sentry event.

Nothing secret leaves: events are scrubbed by the same redaction as the logs before they are
sent; local variables, request data, breadcrumbs and PII are never attached; outgoing calls get no
trace headers; and no integration is switched on by what happens to be installed. Each event is
tagged with the trace id of its log lines. Error paths call `send_error_reports` before answering,
because Cloud Run may stop giving the process CPU once the answer is sent."""

import logging
import threading

import sentry_sdk
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.excepthook import ExcepthookIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from common.platform.logs import current_trace, redact_value
from common.platform.settings import get_settings

_start_lock = threading.Lock()
_started = False


def start_error_reporting() -> None:
    """Start the Sentry client once per process; does nothing without SENTRY_DSN."""
    global _started
    settings = get_settings()
    with _start_lock:
        if _started or not settings.sentry_dsn:
            return
        sentry_sdk.init(
            dsn=settings.sentry_dsn,
            environment=settings.sentry_environment or settings.app_env,
            # No breadcrumbs (an earlier request's URLs could ride along) and no trace headers on
            # outgoing provider calls.
            max_breadcrumbs=0,
            trace_propagation_targets=[],
            data_collection={
                "user_info": False,
                "cookies": {"mode": "off"},
                "http_headers": {"request": {"mode": "off"}},
                "http_bodies": [],
                "url_query_params": {"mode": "off"},
                "stack_frame_variables": False,
            },
            # Only these three: the default set also wraps every thread start and executor call
            # (threading) and every outgoing HTTP request (stdlib), a cost on every request.
            default_integrations=False,
            auto_enabling_integrations=False,
            integrations=[
                # sentry_logs_level=None: no handler for Sentry's log product on every log line
                # (it is not enabled; the handler still ran for each record, 2-3% of an ack's CPU).
                LoggingIntegration(level=None, event_level=logging.ERROR, sentry_logs_level=None),
                ExcepthookIntegration(),
                DedupeIntegration(),
            ],
            before_send=scrub,
        )
        _started = True


def scrub(event: dict, hint: dict) -> dict:
    """Redact the whole event as a log line would be, and tag it with the current trace."""
    cleaned = redact_value(event)
    trace = current_trace()
    if trace:
        cleaned.setdefault("tags", {})["trace"] = trace
    return cleaned


def send_error_reports() -> None:
    """Wait briefly for pending events to be sent (no-op when reporting is off)."""
    if _started:
        sentry_sdk.flush(timeout=2)
