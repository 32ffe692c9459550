"""Calls to the Gmail and Calendar APIs on a user's behalf, through the token manager (so a 401
gets one forced refresh and one retry). Network errors, 429 and 5xx are retryable (the consumer's
message is redelivered); the statuses the caller says it handles (404, 410, ...) are returned to it;
any other 4xx is permanent (a wrong scope or a missing calendar will not fix itself on retry).
Each outcome counts towards the connection's health (common/tokens/connection_health.py)."""

import requests

from common.oauth.refresh_policy import retry_after_seconds
from common.platform.clients import http_session
from common.platform.errors import AppError, Unavailable
from common.platform.settings import get_settings
from common.stores.connections import service_of
from common.tokens import connection_health
from common.tokens.reader import call_with_token


class ProviderRejected(AppError):
    status = 502
    code = "provider_rejected"
    default_message = "The provider refused the request"


class ConnectionCalls:
    """One piece of work's calls with a connection's token (a sync and its pages and messages): the
    connection is read once for all of them while that token stays in use, and afresh after a
    refresh, a refused token, a failure or cleared call failures. fresh_token: the access token a
    connect was just issued (the connection has no failures to clear yet), used as is instead of
    being read back from the store. read: the connection as the work has just read it (none: the
    first call reads it)."""

    def __init__(self, uid: str, connection_id: str, fresh_token: str | None = None, read: dict | None = None):
        self.uid, self.connection_id, self._fresh_token = uid, connection_id, fresh_token
        self.record: dict | None = read  # the connection as last read, while its token is the one in use

    def call(self, method: str, url: str, handled: tuple[int, ...] = (), **kwargs):
        service, timeout = service_of(self.connection_id), get_settings().provider_timeout_seconds

        def send(token: str):
            return http_session().request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, **kwargs)

        read, self.record = self.record, None
        try:
            if self._fresh_token:
                response, record, kept = send(self._fresh_token), {}, False
            else:
                made = call_with_token(self.uid, self.connection_id, send, read=read)
                response, record, kept = made.response, made.record, made.token_kept
        except requests.RequestException as error:
            connection_health.record_failure(self.uid, self.connection_id, "unreachable")
            raise Unavailable(f"{service} API unreachable ({type(error).__name__})", code="provider_unavailable") from None
        failure = _failure(service, response, handled)
        if failure is not None:
            connection_health.record_failure(self.uid, self.connection_id, f"http_{response.status_code}")
            raise failure
        connection_health.record_success(self.uid, self.connection_id, record)
        if kept and not record.get("callFailures"):  # cleared failures: the store no longer matches it
            self.record = record
        return response


def google_call(uid: str, connection_id: str, method: str, url: str, handled: tuple[int, ...] = (), *, fresh_token=None, **kw):
    """One call with the connection's token (ConnectionCalls for several)."""
    return ConnectionCalls(uid, connection_id, fresh_token).call(method, url, handled, **kw)


def _failure(service: str, response, handled: tuple[int, ...]) -> AppError | None:
    status = response.status_code
    if status == 429 or status >= 500:
        return Unavailable(
            f"{service} API answered {status}",
            code="provider_unavailable",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status >= 400 and status not in handled:
        return ProviderRejected(f"{service} API answered {status}")
    return None
