"""JSON log lines in Cloud Logging's structured format, with redaction.

Every record from every logger (ours and libraries') goes through one formatter that
redacts token-shaped values and the values of known secret fields, in the message, the
arguments, the extra fields and the stack trace. So a token cannot reach a log by accident.

Use: `log = get_logger(__name__)`; `log.info("refreshed", extra={"fields": {"uid": uid}})`.
"""

import contextvars
import datetime
import json
import logging
import re
import secrets
import sys
import threading
import traceback

from common.platform.settings import get_settings

REDACTED = "[REDACTED]"
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "client_secret",
        "secret",
        "signing_secret",
        "code",
        "code_verifier",
        "password",
        "authorization",
        "cookie",
        "api_key",
        "key",
        "keys",
        "private_key",
        "token_key_ring",
        "x-goog-channel-token",
        "x-slack-signature",
        "response_url",
    }
)
_FIELD_ALTERNATIVES = "|".join(sorted((re.escape(f) for f in SECRET_FIELDS), key=len, reverse=True))
_TOKEN_SHAPES = re.compile(
    "|".join(
        (
            r"xox[a-z]-[A-Za-z0-9-]{4,}",  # Slack bot, user, refresh and config tokens
            r"ya29\.[\w.~+/-]+",  # Google access tokens
            r"1//[\w.~+/-]{8,}",  # Google refresh tokens
            r"eyJ[\w-]*\.[\w-]*\.[\w-]*",  # JWTs (ID tokens, signed push requests)
            r"(?<=bearer )[\w.~+/=-]+",  # Authorization header values
            r"(?<=basic )[A-Za-z0-9+/=]{8,}",
            r"https://hooks\.slack\.com/[\w./~+%-]+",  # response_urls and incoming webhooks post as the app
        )
    ),
    re.IGNORECASE,
)
# key=value (query strings, form bodies) and "key": "value" (JSON text) for known secret fields.
_SECRET_ASSIGNMENTS = re.compile(
    rf"""(?ix)(?P<prefix>(?:^|[^\w-])(?:{_FIELD_ALTERNATIVES})(?:["']?\s*[:=]\s*["']?))(?P<value>[^"'&\s,}}]+)"""
)

_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


def redact_text(text: str) -> str:
    text = _TOKEN_SHAPES.sub(REDACTED, text)
    return _SECRET_ASSIGNMENTS.sub(lambda m: m.group("prefix") + REDACTED, text)


def redact_value(value, depth: int = 0):
    """Redact a structured value: secret field names lose their values, strings are scanned."""
    if depth > 8:
        return REDACTED
    if isinstance(value, dict):
        return {k: (REDACTED if str(k).lower() in SECRET_FIELDS else redact_value(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact_text(str(value))


def bind_trace(headers) -> str:
    """Take the trace id from X-Cloud-Trace-Context or traceparent, or start a new one."""
    trace = None
    cloud = headers.get("X-Cloud-Trace-Context", "")
    if re.match(r"^[0-9a-fA-F]{32}(/|$)", cloud):
        trace = cloud[:32].lower()
    else:
        parent = re.match(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$", headers.get("traceparent", ""))
        trace = parent.group(1) if parent else secrets.token_hex(16)
    _trace_id.set(trace)
    return trace


def current_trace() -> str | None:
    return _trace_id.get()


def traceparent() -> str:
    """The current trace as a W3C traceparent (a new span id per hop), for Pub/Sub message attributes:
    the consumer binds it, so one trace id follows a request across every hop."""
    trace = _trace_id.get() or bind_trace({})
    return f"00-{trace}-{secrets.token_hex(8)}-01"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": redact_text(record.getMessage()),
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(redact_value(fields))
        trace = _trace_id.get()
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{_project()}/traces/{trace}"
        if record.exc_info:
            entry["stack_trace"] = redact_text("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, default=str)


def _project() -> str:
    try:
        return get_settings().gcp_project
    except Exception:
        return "unknown"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the moment of the write (servers and tests swap it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


_setup_lock = threading.Lock()
_handler: logging.Handler | None = None


def setup_logging(stream=None) -> None:
    """Route every logger through one JSON handler on stdout (idempotent; a new stream replaces the old)."""
    global _handler
    with _setup_lock:
        root = logging.getLogger()
        if _handler is not None and stream is None:
            return
        if _handler is not None:
            root.removeHandler(_handler)
        for existing in list(root.handlers):
            root.removeHandler(existing)
        _handler = logging.StreamHandler(stream) if stream else _StdoutHandler()
        _handler.setFormatter(JsonFormatter())
        root.addHandler(_handler)
        root.setLevel(_level())
        logging.captureWarnings(True)


def _level() -> str:
    try:
        return get_settings().log_level
    except Exception:
        return "INFO"


def get_logger(name: str) -> logging.Logger:
    setup_logging()
    return logging.getLogger(name)
