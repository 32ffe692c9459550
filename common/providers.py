"""Provider specs: each service's OAuth quirks as data (URLs, scopes, separator, PKCE, where the
tokens sit in the token response, how the account is identified, how to revoke), so the flow code
has no per-provider branches beyond choosing a spec."""

import dataclasses

from common.errors import NotFound
from common.settings import get_settings

SERVICES = ("slack", "gmail", "calendar")


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    service: str
    family: str  # services of one family share a client and a token format
    authorize_url: str
    token_url: str
    revoke_url: str
    userinfo_url: str | None  # None: the account is read from the token response
    client_id: str
    client_secret_setting: str
    scopes: tuple[str, ...]
    scope_param: str  # the authorize parameter carrying the scopes
    scope_separator: str
    pkce: bool
    client_auth: str  # "basic" (HTTP Basic) or "body" (client_id and client_secret in the form)
    exchange_secret: bool  # False: the code exchange sends the client id and the PKCE verifier, not the secret
    authorize_params: tuple[tuple[str, str], ...]
    login_hint_param: str | None  # where the caller's loginHint goes on the consent URL; None: the provider has none
    access_token_path: tuple[str, ...]
    refresh_token_path: tuple[str, ...]
    expires_in_path: tuple[str, ...]
    scope_path: tuple[str, ...]
    ok_field: str | None  # Slack answers errors as HTTP 200 {"ok": false}
    revoke_kind: str  # which stored token to revoke: Google's refresh token ends the whole grant
    synced_collections: tuple[str, ...]  # per-user data a disconnect removes
    api_base: str  # the service's API root: the proxy forwards under it and nowhere else (docs/proxy.md)


def _slack(settings) -> ProviderSpec:
    base = settings.slack_base_url
    return ProviderSpec(
        service="slack",
        family="slack",
        authorize_url=f"{base}/oauth/v2/authorize",
        token_url=f"{base}/api/oauth.v2.access",
        revoke_url=f"{base}/api/auth.revoke",
        userinfo_url=None,
        client_id=settings.slack_client_id,
        client_secret_setting="SLACK_CLIENT_SECRET",
        scopes=settings.slack_user_scopes,
        scope_param="user_scope",
        scope_separator=",",
        pkce=True,  # the Slack app must have PKCE turned on (README, Connecting accounts)
        client_auth="basic",
        exchange_secret=False,  # Slack's PKCE exchange: code, code_verifier and client_id only
        authorize_params=(),
        login_hint_param=None,  # Slack's authorize URL takes no account hint
        access_token_path=("authed_user", "access_token"),
        refresh_token_path=("authed_user", "refresh_token"),
        expires_in_path=("authed_user", "expires_in"),
        scope_path=("authed_user", "scope"),
        ok_field="ok",
        revoke_kind="access_token",
        synced_collections=("slack_activity", "action_items"),
        api_base=f"{base}/api/",
    )


def _google(settings, service: str, scopes: tuple[str, ...], synced: tuple[str, ...], api_base: str) -> ProviderSpec:
    return ProviderSpec(
        service=service,
        family="google",
        authorize_url=f"{settings.google_accounts_base_url}/o/oauth2/v2/auth",
        token_url=f"{settings.google_oauth2_base_url}/token",
        revoke_url=f"{settings.google_oauth2_base_url}/revoke",
        userinfo_url=f"{settings.google_openid_base_url}/v1/userinfo",
        client_id=settings.google_client_id,
        client_secret_setting="GOOGLE_CLIENT_SECRET",
        scopes=scopes,
        scope_param="scope",
        scope_separator=" ",
        pkce=True,
        client_auth="body",
        exchange_secret=True,  # a Google web client authenticates with its secret, PKCE or not
        # No include_granted_scopes: each service's token carries that service's scopes only.
        authorize_params=(("response_type", "code"), ("access_type", "offline"), ("prompt", "consent")),
        login_hint_param="login_hint",  # an email address or sub: Google preselects that account
        access_token_path=("access_token",),
        refresh_token_path=("refresh_token",),
        expires_in_path=("expires_in",),
        scope_path=("scope",),
        ok_field=None,
        revoke_kind="refresh_token",
        synced_collections=synced,
        api_base=api_base,
    )


def provider(service: str) -> ProviderSpec:
    """The spec of a service named in a request path; anything else is a 404."""
    settings = get_settings()
    if service == "slack":
        return _slack(settings)
    if service == "gmail":
        return _google(settings, "gmail", settings.gmail_scopes, ("mail",), f"{settings.gmail_base_url}/")
    if service == "calendar":
        return _google(
            settings, "calendar", settings.calendar_scopes, ("calendar_events",), f"{settings.calendar_base_url}/calendar/v3/"
        )
    raise NotFound("Unknown service: use slack, gmail or calendar", code="unknown_service")


def redirect_uri(service: str) -> str:
    """The OAuth redirect URI registered with the provider for this service."""
    return f"{get_settings().public_base_url}/api/v1/oauth/{service}/callback"
