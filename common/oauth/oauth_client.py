"""Calls to the providers' OAuth endpoints over the shared HTTP session: code exchange,
account lookup, revocation. Parsing and decisions live in oauth_protocol."""

import requests

from common.oauth.oauth_protocol import TokenResponseError, TokenSet, dig, parse_token_response
from common.oauth.refresh_policy import retry_after_seconds
from common.platform.clients import http_session
from common.platform.logs import get_logger
from common.platform.secrets import get_secret
from common.platform.settings import get_settings
from common.providers import ProviderSpec

log = get_logger(__name__)


def _client_auth(spec: ProviderSpec, form: dict, with_secret: bool) -> tuple[dict, tuple[str, str] | None]:
    if not with_secret:
        return {**form, "client_id": spec.client_id}, None
    secret = get_secret(spec.client_secret_setting)
    if spec.client_auth == "basic":
        return form, (spec.client_id, secret)
    return {**form, "client_id": spec.client_id, "client_secret": secret}, None


def token_request(spec: ProviderSpec, form: dict, *, refresh: bool = False, with_secret: bool = True) -> TokenSet:
    """POST to the token endpoint; raises TokenResponseError (retryable or not)."""
    body, auth = _client_auth(spec, form, with_secret)
    sent = {"json": body} if spec.token_format == "json" else {"data": body}
    try:
        response = http_session().post(spec.token_url, **sent, auth=auth, timeout=get_settings().provider_timeout_seconds)
    except requests.RequestException as error:
        raise TokenResponseError(f"network_{type(error).__name__}", retryable=True) from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    try:
        return parse_token_response(spec, response.status_code, payload, refresh=refresh)
    except TokenResponseError as error:
        error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise


def refresh_grant(spec: ProviderSpec, refresh_token: str) -> TokenSet:
    """Where one refresh token serves every scope the account consented to (Microsoft), the refresh
    asks for this service's scopes only, so an Outlook Mail token never carries calendar scopes."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if spec.refresh_scope_per_service:
        form["scope"] = spec.scope_separator.join(spec.scopes)
    return token_request(spec, form, refresh=True)


def exchange_code(spec: ProviderSpec, code: str, redirect_uri: str, verifier: str | None) -> TokenSet:
    """Without the secret (Slack), the verifier is the exchange's only proof: a code issued for
    another flow, or to an app without PKCE turned on, is refused rather than exchanged."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if spec.pkce:
        form["code_verifier"] = verifier
    return token_request(spec, form, with_secret=spec.exchange_secret)


def _userinfo(spec: ProviderSpec, tokens: TokenSet) -> dict:
    try:
        response = http_session().get(
            spec.userinfo_url,
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=get_settings().provider_timeout_seconds,
        )
        info = response.json() if response.ok else {}
    except (requests.RequestException, ValueError):
        raise TokenResponseError("userinfo_unavailable", retryable=True) from None
    return info if isinstance(info, dict) else {}


def identify_account(spec: ProviderSpec, tokens: TokenSet) -> tuple[str, dict]:
    """(account key for the index, public account description), read where the catalogue says:
    Slack's team and user from the token reply, Google's verified email from userinfo."""
    rule = spec.account
    source = tokens.raw if rule["from"] == "token_reply" else _userinfo(spec, tokens)

    def read(paths: str | list[str]):
        """The value at the path, or at the first of several paths that holds one."""
        found = (dig(source, tuple(path.split("."))) for path in ([paths] if isinstance(paths, str) else paths))
        value = next((value for value in found if value is not None), None)
        return value.lower() if rule["lowercase"] and isinstance(value, str) else value

    key = [read(path) for path in rule["key"]]
    refused = any(source.get(field) is False for field in rule["refuse_when_false"])
    if refused or not all(isinstance(part, str) and part for part in key):
        raise TokenResponseError(rule["missing_error"])
    return ":".join(key), {name: read(path) for name, path in rule["fields"].items()}


def _revoke_request(spec: ProviderSpec, token: str) -> dict:
    """The revoke call's arguments, as the catalogue describes it: the token as the Bearer token or
    in a form or JSON body, the client proven by HTTP Basic, in the body, or not at all."""
    headers, body, auth = dict(spec.revoke_headers), {"token": token}, None
    if spec.revoke_client_auth == "basic":
        auth = (spec.client_id, get_secret(spec.client_secret_setting))
    elif spec.revoke_client_auth == "body":
        body.update(client_id=spec.client_id, client_secret=get_secret(spec.client_secret_setting))
    if spec.revoke_send == "bearer":
        headers["Authorization"] = f"Bearer {token}"
        return {"headers": headers, "auth": auth}
    return {"headers": headers, "auth": auth, ("json" if spec.revoke_send == "json" else "data"): body}


def revoke(spec: ProviderSpec, token: str) -> bool | None:
    """Revoke a token at the provider; False (logged) when the provider did not confirm, None when
    the provider has no revocation (spec.revoke_note says what disconnecting does instead)."""
    if spec.revoke_url is None:
        return None
    timeout = get_settings().provider_timeout_seconds
    try:
        response = http_session().post(spec.revoke_url, **_revoke_request(spec, token), timeout=timeout)
        confirmed = response.ok and (spec.revoke_confirm == "status" or response.json().get(spec.ok_field) is True)
    except (requests.RequestException, ValueError):
        confirmed, response = False, None
    if not confirmed:
        status = response.status_code if response is not None else "network"
        log.warning("provider revoke failed", extra={"fields": {"service": spec.service, "status": status}})
    return confirmed
