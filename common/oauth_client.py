"""Calls to the providers' OAuth endpoints over the shared HTTP session: code exchange,
account lookup, revocation. Parsing and decisions live in oauth_protocol."""

import requests

from common.clients import http_session
from common.logs import get_logger
from common.oauth_protocol import TokenResponseError, TokenSet, parse_token_response
from common.providers import ProviderSpec
from common.refresh_policy import retry_after_seconds
from common.secrets import get_secret
from common.settings import get_settings

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
    try:
        response = http_session().post(spec.token_url, data=body, auth=auth, timeout=get_settings().provider_timeout_seconds)
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
    return token_request(spec, {"grant_type": "refresh_token", "refresh_token": refresh_token}, refresh=True)


def exchange_code(spec: ProviderSpec, code: str, redirect_uri: str, verifier: str | None) -> TokenSet:
    """Without the secret (Slack), the verifier is the exchange's only proof: a code issued for
    another flow, or to an app without PKCE turned on, is refused rather than exchanged."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if spec.pkce:
        form["code_verifier"] = verifier
    return token_request(spec, form, with_secret=spec.exchange_secret)


def identify_account(spec: ProviderSpec, tokens: TokenSet) -> tuple[str, dict]:
    """(account key for the index, public account description). Slack: team + user from the
    token response; Google: the verified email from userinfo."""
    if spec.userinfo_url is None:
        team = tokens.raw.get("team") or {}
        user_id = (tokens.raw.get("authed_user") or {}).get("id")
        if not team.get("id") or not user_id:
            raise TokenResponseError("invalid_response")
        return f"{team['id']}:{user_id}", {"teamId": team["id"], "teamName": team.get("name"), "userId": user_id}
    try:
        response = http_session().get(
            spec.userinfo_url,
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=get_settings().provider_timeout_seconds,
        )
        info = response.json() if response.ok else {}
    except (requests.RequestException, ValueError):
        raise TokenResponseError("userinfo_unavailable", retryable=True) from None
    email = info.get("email") if isinstance(info, dict) else None
    if not isinstance(email, str) or not email or info.get("email_verified") is False:
        raise TokenResponseError("userinfo_without_email")
    return email.lower(), {"email": email.lower()}


def revoke(spec: ProviderSpec, token: str) -> bool:
    """Revoke a token at the provider; False (logged) when the provider did not confirm."""
    timeout = get_settings().provider_timeout_seconds
    try:
        if spec.family == "slack":
            response = http_session().post(spec.revoke_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
            confirmed = response.ok and response.json().get("ok") is True
        else:
            response = http_session().post(spec.revoke_url, data={"token": token}, timeout=timeout)
            confirmed = response.ok
    except (requests.RequestException, ValueError):
        confirmed, response = False, None
    if not confirmed:
        status = response.status_code if response is not None else "network"
        log.warning("provider revoke failed", extra={"fields": {"service": spec.service, "status": status}})
    return confirmed
