"""The proxy: a caller's request forwarded to one service's API as one user, with that user's token.

`forward(uid, service, request)` takes the uid from its caller (the end-user function passes the ID
token's, a backend route the uid it authorized), never from the request. The URL is the service's
API base and a checked path (common/access/proxy_paths.py). The token comes from the token manager, which
answers `409 needs_reauth` before any provider call and gives a token the provider refused (401, or
Slack's HTTP 200 invalid_auth / token_expired / token_revoked) one forced refresh and one retry.
Idempotent methods are retried on 429, 5xx and network errors with backoff (Retry-After when given)
within PROXY_DEADLINE_SECONDS; other methods get one call and the provider's answer, Retry-After
included. Only listed headers cross in either direction, so no credential, cookie or hop-by-hop
header does. One log line per call: service, method, path template, status, latency, attempts."""

import dataclasses
import json
import time

import flask
import requests

from common.access import proxy_paths
from common.oauth.refresh_policy import backoff_delay, retry_after_seconds
from common.platform.clients import http_session
from common.platform.errors import AppError
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.product.rate_limit import limit_proxy
from common.providers import provider
from common.serving.http import read_body
from common.stores import connections
from common.tokens import connection_health
from common.tokens.reader import call_with_token

log = get_logger(__name__)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")  # what either form of the route accepts
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# What may cross, by name (lower case); everything else (Authorization, Cookie, Set-Cookie,
# X-Forwarded-*, Proxy-*, Connection and what it names, the gateway's own headers) stays behind.
REQUEST_HEADERS = frozenset(
    {"accept", "accept-language", "content-type", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"}
)
RESPONSE_HEADERS = frozenset({"content-type", "content-language", "content-disposition", "etag", "last-modified", "retry-after"})
CONNECTION_HEADER = "X-Connection-Id"  # the query is the provider's, so the connection is named here
SLACK_TOKEN_ERRORS = frozenset({"invalid_auth", "token_expired", "token_revoked"})


class ProviderUnreachable(AppError):
    status = 502
    code = "provider_unreachable"
    retryable = True
    default_message = "The provider could not be reached"


class UpstreamTooLarge(AppError):
    status = 502
    code = "upstream_too_large"
    default_message = "The provider's reply is over the proxy's size limit"


@dataclasses.dataclass(frozen=True, repr=False)
class ProxyRequest:
    method: str
    path: str  # raw (still percent-encoded), relative to the service's API base
    query: str  # raw
    headers: dict[str, str]
    body: bytes
    connection_id: str | None = None  # CONNECTION_HEADER: which of several connections of the service


@dataclasses.dataclass(frozen=True, repr=False)
class ProxyReply:
    status: int
    headers: dict[str, str]
    body: bytes


def from_flask(request: flask.Request) -> tuple[str, ProxyRequest]:
    """(service, request) of an incoming Flask request on either form of the route. The path is read
    from the raw request URI (the server's PATH_INFO is already decoded: %2F would be a slash)."""
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw_uri:
        raise proxy_paths.InvalidPath("The raw request path is not available")
    service, path = proxy_paths.split_route(raw_uri.partition("?")[0])
    headers = {name: value for name, value in request.headers.items() if name.lower() in REQUEST_HEADERS}
    connection_id = connections.checked_connection_id(request.headers.get(CONNECTION_HEADER))
    body = read_body(request, get_settings().proxy_max_request_bytes)
    return service, ProxyRequest(request.method, path, request.query_string.decode("latin-1"), headers, body, connection_id)


def as_flask(reply: ProxyReply) -> flask.Response:
    response = flask.Response(reply.body, status=reply.status, headers=reply.headers)
    if "content-type" not in {name.lower() for name in reply.headers}:
        del response.headers["Content-Type"]  # not Flask's text/html default
    response.headers["Cache-Control"] = "no-store"  # one user's data
    return response


def forward(uid: str, service: str, request: ProxyRequest) -> ProxyReply:
    """The provider's reply to `request`, made as `uid` on their connection to `service` (the one
    `request.connection_id` names, when the user has several)."""
    spec = provider(service)
    url = proxy_paths.upstream_url(spec.api_base, request.path, request.query)
    proxy_paths.check_allowed(request.path, spec.api_paths)
    call = _Call(request, url, spec, get_settings())
    status = None
    try:
        connection_id, found = connections.resolve(uid, service, request.connection_id)
        limit_proxy(uid, connection_id)
        try:
            made = call_with_token(uid, connection_id, call.send, rejected=call.rejected, read=found)
        except ProviderUnreachable:
            connection_health.record_failure(uid, connection_id, "unreachable")
            raise
        status = made.response.status_code
        _count_health(uid, connection_id, made.response, made.record)
        return ProxyReply(status, _passed(made.response.headers), made.response.body)
    except AppError as error:
        status = error.status
        raise
    finally:
        fields = {
            "uid": uid,
            "service": service,
            "method": request.method,
            "pathTemplate": proxy_paths.template(request.path),
            "status": status,
            "upstreamMs": round(call.upstream_seconds * 1000, 1),
            "attempts": call.attempts,
            "metric": "proxy_call",
        }
        log.info("proxy call", extra={"fields": fields})


@dataclasses.dataclass(frozen=True)
class _Upstream:
    status_code: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    token_error: str | None  # Slack's HTTP 200 token refusal, read once per reply


class _Call:
    """One proxied call's upstream attempts, all within one deadline."""

    def __init__(self, request: ProxyRequest, url: str, spec, settings):
        self.request, self.url, self.ok_field, self.settings = request, url, spec.ok_field, settings
        self.added_headers = dict(spec.api_headers)  # what the provider requires of every call (Notion-Version)
        self.deadline = time.monotonic() + settings.proxy_deadline_seconds
        self.attempts, self.upstream_seconds = 0, 0.0

    def send(self, token: str) -> _Upstream:
        """The provider's reply, after the retries a transient failure of an idempotent method gets."""
        retry = 0
        while True:
            try:
                reply = self._once(token)
            except requests.RequestException as error:
                delay = self._retry_delay(retry, None)
                if delay is None:
                    raise ProviderUnreachable(f"The provider could not be reached ({type(error).__name__})") from None
            else:
                transient = reply.status_code == 429 or reply.status_code >= 500
                delay = self._retry_delay(retry, retry_after_seconds(reply.headers.get("Retry-After"))) if transient else None
                if delay is None:
                    return reply
            time.sleep(delay)
            retry += 1

    def rejected(self, reply: _Upstream) -> bool:
        """The provider refused the token itself (worth one refresh)."""
        return reply.status_code == 401 or reply.token_error is not None

    def _retry_delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none to make."""
        if self.request.method not in IDEMPOTENT or retry + 1 >= self.settings.proxy_retry_attempts:
            return None
        delay = backoff_delay(retry, retry_after)
        return delay if time.monotonic() + delay < self.deadline else None

    def _once(self, token: str) -> _Upstream:
        self.attempts += 1
        remaining = self.deadline - time.monotonic()
        timeout = max(0.1, min(self.settings.provider_timeout_seconds, remaining))
        headers = {**self.request.headers, **self.added_headers, "Authorization": f"Bearer {token}"}
        started = time.monotonic()
        try:
            with http_session().request(
                self.request.method,
                self.url,
                headers=headers,
                data=self.request.body or None,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            ) as response:
                body = _read_limited(response, self.settings.proxy_max_response_bytes)
                token_error = _token_error(response.status_code, body, self.ok_field)
                return _Upstream(response.status_code, response.headers, body, token_error)
        finally:
            self.upstream_seconds += time.monotonic() - started


def _read_limited(response: requests.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise UpstreamTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _token_error(status: int, body: bytes, ok_field: str | None) -> str | None:
    """Slack's token errors, which arrive as HTTP 200 {"ok": false, "error": ...}."""
    if ok_field is None or status != 200 or not body.lstrip().startswith(b"{"):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    error = parsed.get("error") if parsed.get(ok_field) is False else None
    return error if error in SLACK_TOKEN_ERRORS else None


def _count_health(uid: str, connection_id: str, reply: _Upstream, record: dict) -> None:
    """Token refusals, rate limits and provider errors count against the connection; a success
    clears its call failures; another 4xx is the caller's (a wrong path says nothing of the connection)."""
    if reply.token_error or reply.status_code in (401, 429) or reply.status_code >= 500:
        connection_health.record_failure(uid, connection_id, reply.token_error or f"http_{reply.status_code}")
    elif reply.status_code < 400:
        connection_health.record_success(uid, connection_id, record)


def _passed(headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() in RESPONSE_HEADERS}
