"""Calls to the Gmail and Calendar APIs on a user's behalf, through the token manager (so a 401
gets one forced refresh and one retry). 429 and 5xx become retryable errors (the consumer's message
is redelivered); other statuses are returned for the caller to read (404, 410 mean something)."""

from common.clients import http_session
from common.errors import Unavailable
from common.refresh_policy import retry_after_seconds
from common.settings import get_settings
from common.tokens import call_with_token


def google_call(uid: str, service: str, method: str, url: str, **kwargs):
    timeout = get_settings().provider_timeout_seconds

    def send(token: str):
        return http_session().request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, **kwargs)

    response = call_with_token(uid, service, send)
    if response.status_code == 429 or response.status_code >= 500:
        raise Unavailable(
            f"{service} API answered {response.status_code}",
            code="provider_unavailable",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    return response
