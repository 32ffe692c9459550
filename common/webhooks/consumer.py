"""The wrapper every Pub/Sub-triggered function goes through: decode the message, bind its trace,
drop messages older than a maximum age, and sort failures. Retryable errors (and unexpected ones)
are re-raised, so functions-framework answers 500 and Pub/Sub redelivers (a dead-letter topic ends
poison messages); permanent ones are logged and acknowledged."""

import base64
import binascii
import datetime
import functools
import json
import time

import flask
from werkzeug.exceptions import Unauthorized

from common.platform.error_reporting import send_error_reports, start_error_reporting
from common.platform.errors import AppError
from common.platform.logs import bind_trace, get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import ms_since, utcnow
from common.product.analytics import track
from common.product.events import settle_events
from common.serving.config_check import instance_problems, require_valid_configuration
from common.serving.identity import verify_google_token

log = get_logger(__name__)


def _published_at(message: dict) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(message["publishTime"].replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _track(webhook: str | None, event: str, started: float, error_code: str | None) -> None:
    if webhook:
        track(
            event,
            provider=webhook,
            status="failed" if error_code else "success",
            error_code=error_code,
            duration_ms=ms_since(started),
        )


def _failure_metric(webhook: str | None) -> dict:
    """The log-based metric a failed message counts towards (infra/monitoring.tf)."""
    return {"metric": "webhook_failed", "provider": webhook} if webhook else {"metric": "consumer_failed"}


def _check_push(request) -> None:
    """In production every delivery is a Pub/Sub push with the push account's OIDC token (the local
    emulator pushes without one, so an empty PUSH_SERVICE_ACCOUNT skips this; production refuses it),
    minted for this consumer's configured URL, PUSH_AUDIENCE."""
    settings = get_settings()
    if not settings.push_service_account:
        return
    try:
        verify_google_token(request, settings.push_service_account, settings.push_audience)
    except AppError as error:
        log.warning("push request refused", extra={"fields": {"errorCode": error.code}})
        raise Unauthorized(error.message) from None


def consumer(max_age_seconds: float | None = None, webhook: str | None = None):
    """Decorate `handler(payload: dict, attributes: dict)` as a CloudEvent function. `webhook` names
    the provider whose webhooks it processes (for the processed / failed analytics events)."""

    def decorate(handler):
        if not instance_problems("consumer"):  # otherwise each message is refused below, and redelivered
            start_error_reporting()

        @functools.wraps(handler)
        def run(cloud_event):
            require_valid_configuration("consumer")  # retryable: the message waits for the fix
            message = (cloud_event.data or {}).get("message") or {}
            attributes = message.get("attributes") or {}
            bind_trace({"traceparent": attributes.get("traceparent", "")})
            _check_push(flask.request)
            fields = {"function": handler.__name__, "messageId": message.get("messageId")}
            published = _published_at(message)
            if max_age_seconds is not None and published and (utcnow() - published).total_seconds() > max_age_seconds:
                log.warning("message too old; dropped", extra={"fields": fields})
                return
            try:
                payload = json.loads(base64.b64decode(message.get("data") or b"e30=") or b"{}")
            except (ValueError, binascii.Error):
                log.error("message is not base64 JSON; dropped", extra={"fields": fields})
                send_error_reports()
                return
            started = time.perf_counter()
            try:
                handler(payload if isinstance(payload, dict) else {"value": payload}, attributes)
            except AppError as error:
                _track(webhook, "integration_webhook_failed", started, error.code)
                failed = {**fields, **_failure_metric(webhook), "errorCode": error.code}
                if error.retryable:
                    log.warning("retryable failure; message will be redelivered", extra={"fields": failed})
                    raise
                log.error("permanent failure; message acknowledged", extra={"fields": failed})
                send_error_reports()
                return
            except Exception:
                _track(webhook, "integration_webhook_failed", started, "unexpected")
                failed = {**fields, **_failure_metric(webhook), "errorCode": "unexpected"}
                log.exception("unexpected failure; message will be redelivered", extra={"fields": failed})
                send_error_reports()
                raise
            finally:
                settle_events()  # what the handler announced reaches Pub/Sub before the ack
            _track(webhook, "integration_webhook_processed", started, None)
            log.info("message processed", extra={"fields": {**fields, "durationMs": ms_since(started)}})

        return run

    return decorate
