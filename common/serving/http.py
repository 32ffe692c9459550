"""The wrapper every HTTP function goes through: trace binding, method and size checks, and
one JSON envelope for whatever happens (an unexpected exception answers 500 without internals)."""

import functools
import json

import flask
from werkzeug.exceptions import HTTPException

from common.platform.envelope import error_reply, failure, success
from common.platform.error_reporting import send_error_reports, start_error_reporting
from common.platform.errors import AppError, BadRequest, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType
from common.platform.logs import bind_trace, get_logger
from common.platform.settings import get_settings
from common.product.events import settle_events
from common.serving.config_check import instance_problems, require_valid_configuration

DEFAULT_MAX_BODY_BYTES = 64 * 1024
log = get_logger(__name__)

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Connection-Id",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
)


def endpoint(*methods: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, check_configuration: bool = True):
    """Decorate `handler(request) -> data | flask.Response` as an enveloped HTTP function. The
    configuration is checked when the module loads (logged once, as one list); while it is invalid
    every request answers 503 `configuration_invalid`, except where the handler reports it (health)."""
    allowed = frozenset(m.upper() for m in methods)
    _envelope_framework_errors()
    if not instance_problems("http"):
        start_error_reporting()

    def decorate(handler):
        @functools.wraps(handler)
        def run(request: flask.Request) -> flask.Response:
            bind_trace(request.headers)
            origin = _allowed_origin(request)
            if request.method == "OPTIONS":
                return _with_cors(flask.Response(status=204), origin, allowed, preflight=True)
            response = _answer(request, handler, allowed, max_body_bytes, check_configuration)
            settle_events()
            return _with_cors(response, origin, allowed)

        return run

    return decorate


def _envelope_framework_errors() -> None:
    """functions-framework's own Flask app answers what never reaches the function (a path its
    `/<path:path>` rule cannot match, such as one with a newline) with an HTML page: make those
    the envelope too. endpoint() runs while the framework loads the module, inside that app's context."""
    if flask.has_app_context():
        flask.current_app.register_error_handler(HTTPException, _framework_error)


def _framework_error(error: HTTPException) -> flask.Response:
    return failure(_http_code(error), error.name, error.code or 500)


def _answer(request: flask.Request, handler, allowed: frozenset, max_body_bytes: int, check_configuration: bool):
    """Run the handler and shape whatever happens into the envelope."""
    try:
        if check_configuration:
            require_valid_configuration("http")
        if request.method not in allowed:
            raise MethodNotAllowed(f"Use {', '.join(sorted(allowed))}")
        if (request.content_length or 0) > max_body_bytes:
            raise PayloadTooLarge(f"The body is over {max_body_bytes} bytes")
        result = handler(request)
    except AppError as error:
        _log_error(request, error)
        return error_reply(error)
    except HTTPException as error:
        return failure(_http_code(error), error.name, error.code or 500)
    except Exception:
        log.exception("unhandled error", extra={"fields": {"path": request.path, "method": request.method}})
        send_error_reports()
        return failure("internal", "Internal error", 500)
    return result if isinstance(result, flask.Response) else success(result)


def _allowed_origin(request: flask.Request) -> str | None:
    origin = request.headers.get("Origin")
    if not origin or instance_problems("http"):  # no settings to read the app's origins from
        return None
    return origin if origin in get_settings().cors_allowed_origins else None


def _with_cors(response: flask.Response, origin: str | None, allowed: frozenset, preflight: bool = False) -> flask.Response:
    """Credentialed CORS for the configured app origins only (the state cookie needs credentials)."""
    response.headers.add("Vary", "Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if preflight:
            # Every method and request header the API takes: one path can be served by two functions
            # (GET and DELETE /api/v1/me), the proxy forwards every method and its listed headers, and
            # names one of several connections in X-Connection-Id.
            response.headers["Access-Control-Allow-Methods"] = ", ".join(CORS_METHODS)
            response.headers["Access-Control-Allow-Headers"] = ", ".join(CORS_HEADERS)
            response.headers["Access-Control-Max-Age"] = "600"
    return response


def read_body(request: flask.Request, limit: int) -> bytes:
    """The raw body, refused above `limit` bytes (also without Content-Length)."""
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"The body is over {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is over {limit} bytes")
    return body


def path_segment_after(request: flask.Request, marker: str) -> str:
    """The path segment after `marker` (e.g. the service in /api/v1/oauth/{service}/start)."""
    parts = [part for part in request.path.split("/") if part]
    try:
        return parts[parts.index(marker) + 1]
    except (ValueError, IndexError):
        return ""


def json_body(request: flask.Request):
    """The request's JSON body: 415 unless it says application/json, 400 `invalid_json` unless it parses."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        return json.loads(request.get_data())
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON", code="invalid_json") from None


def _log_error(request: flask.Request, error: AppError) -> None:
    fields = {"path": request.path, "method": request.method, "status": error.status, "errorCode": error.code}
    if error.status >= 500:
        log.error(error.message, extra={"fields": fields})
        send_error_reports()
    else:
        log.info(error.message, extra={"fields": fields})


def _http_code(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "_")
