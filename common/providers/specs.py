"""Provider specs: a service's entry in the catalogue with its family's, and the settings they
name (hosts, client id, scopes) read, as the one value the flow, token, proxy and refresh code take.
That code has no per-provider branches: what differs between providers is here, as data."""

import dataclasses

from common.platform.errors import NotFound
from common.platform.settings import get_settings
from common.providers.catalogue import PLACEHOLDER, catalogue


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    service: str
    family: str  # services of one family share a client and a token format
    authorize_url: str
    token_url: str
    revoke_url: str | None  # None: the provider has no revocation (revoke_note says what disconnect does)
    userinfo_url: str | None  # None: the account is read from the token response
    client_id: str
    client_secret_setting: str
    scopes: tuple[str, ...]
    scope_param: str | None  # the authorize parameter carrying the scopes; None: the provider takes none (Notion)
    scope_separator: str
    pkce: bool
    client_auth: str  # "basic" (HTTP Basic) or "body" (client_id and client_secret in the form)
    token_format: str  # "form" or "json" (Notion's token endpoint takes JSON)
    exchange_secret: bool  # False: the code exchange sends the client id and the PKCE verifier, not the secret
    authorize_params: tuple[tuple[str, str], ...]
    login_hint_param: str | None  # where the caller's loginHint goes on the consent URL; None: the provider has none
    unreturned_scopes: frozenset[str]  # asked for, never listed back (Microsoft's offline_access)
    exchange_paths: dict[str, tuple[str, ...] | None]  # where access_token, refresh_token, expires_in, scope sit
    refresh_paths: dict[str, tuple[str, ...] | None]  # the same in a refresh reply (Slack nests only the exchange's)
    ok_field: str | None  # Slack answers errors as HTTP 200 {"ok": false}
    error_paths: tuple[tuple[str, ...], ...]  # where an error reply's code sits (Notion: `code`)
    revoke_kind: str  # which stored token to revoke: Google's refresh token ends the whole grant
    revoke_send: str  # "bearer" (the token as Authorization), "form" or "json" (token=...)
    revoke_client_auth: str  # "none", "basic" or "body": how the revoke call proves the client
    revoke_headers: tuple[tuple[str, str], ...]  # Notion's Notion-Version
    revoke_confirm: str  # "ok_field" (the reply's ok_field is true) or "status" (any 2xx)
    revoke_note: str | None  # what disconnecting does where there is nothing to revoke (Microsoft)
    account: dict  # how the account is read and keyed (catalogue: families.*.account)
    refresh_margin_setting: str | None  # the on-demand refresh margin of this family's access tokens; None: they do not expire
    idle_refresh_days_setting: str | None  # refresh before an unused refresh token goes stale (Google)
    refresh_scope_per_service: bool  # a refresh asks for the service's own scopes (Microsoft's token serves all consented)
    flag: str  # the feature flag that gates connecting this service
    display_name: str
    synced_collections: tuple[str, ...]  # per-user data a disconnect removes
    api_base: str  # the service's API root: the proxy forwards under it and nowhere else (docs/proxy.md)
    api_paths: tuple[str, ...]  # the path prefixes allowed under api_base (services sharing one base); empty: all
    api_headers: tuple[tuple[str, str], ...]  # headers every proxied call carries (Notion-Version)
    icon: str


def _setting(settings, name: str):
    return getattr(settings, name.lower())


def _paths(paths: dict) -> dict[str, tuple[str, ...] | None]:
    return {name: tuple(path.split(".")) if path else None for name, path in paths.items()}


def _spec(service: str, entry: dict, family_name: str, family: dict, settings) -> ProviderSpec:
    client_id = settings.values.get(family["client"]["id_setting"])
    if client_id is None:  # production with the provider's client unset: the deployment does not offer it
        raise NotFound(
            f"{entry['display_name']} is not configured here ({family['client']['id_setting']} is not set)",
            code="service_not_configured",
        )
    names = {**family["hosts"], **family["path_params"]}
    values = {name: _setting(settings, setting) for name, setting in names.items()}

    def url(template: str | None) -> str | None:
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], template) if template else None

    authorize, token, reply, revoke = family["authorize"], family["token"], family["reply"], family["revoke"]
    return ProviderSpec(
        service=service,
        family=family_name,
        authorize_url=url(authorize["url"]),
        token_url=url(token["url"]),
        revoke_url=url(revoke["url"]),
        userinfo_url=url(family["account"]["url"]),
        client_id=client_id,
        client_secret_setting=family["client"]["secret_setting"],
        scopes=_setting(settings, entry["scopes_setting"]) if entry["scopes_setting"] else (),
        scope_param=authorize["scope_param"],
        scope_separator=authorize["scope_separator"],
        pkce=authorize["pkce"],
        client_auth=token["client_auth"],
        token_format=token["format"],
        exchange_secret=token["exchange_secret"],
        authorize_params=tuple(authorize["params"].items()),
        login_hint_param=authorize["login_hint_param"],
        unreturned_scopes=frozenset(authorize["unreturned_scopes"]),
        exchange_paths=_paths(reply["exchange"]),
        refresh_paths=_paths(reply["refresh"]),
        ok_field=reply["ok_field"],
        error_paths=tuple(tuple(path.split(".")) for path in reply["error_paths"]),
        revoke_kind=revoke["token"],
        revoke_send=revoke["send"],
        revoke_client_auth=revoke["client_auth"],
        revoke_headers=tuple(revoke["headers"].items()),
        revoke_confirm=revoke["confirm"],
        revoke_note=revoke["note"],
        account=family["account"],
        refresh_margin_setting=family["refresh"]["margin_setting"],
        idle_refresh_days_setting=family["refresh"]["idle_days_setting"],
        refresh_scope_per_service=family["refresh"]["scope_per_service"],
        flag=entry["flag"],
        display_name=entry["display_name"],
        synced_collections=tuple(entry["synced_collections"]),
        api_base=url(entry["api_base"]),
        api_paths=tuple(entry["api_paths"]),
        api_headers=tuple(entry["api_headers"].items()),
        icon=entry["icon"],
    )


def services() -> tuple[str, ...]:
    """Every service this deployment offers, in the catalogue's order (listings keep it): a catalogued
    service whose family's client id is unset in production is not offered (erasure, the refresh job
    and listings pass it by; its endpoints answer 404 service_not_configured)."""
    known, values = catalogue(), get_settings().values
    return tuple(
        service
        for service, entry in known["services"].items()
        if values.get(known["families"][entry["family"]]["client"]["id_setting"]) is not None
    )


def provider(service: str) -> ProviderSpec:
    """The spec of a service named in a request path; anything else is a 404."""
    known = catalogue()
    entry = known["services"].get(service)
    if entry is None:
        *others, last = known["services"]
        named = f"{', '.join(others)} or {last}" if others else last
        raise NotFound(f"Unknown service: use {named}", code="unknown_service")
    return _spec(service, entry, entry["family"], known["families"][entry["family"]], get_settings())


def family_of(service: str) -> str:
    """A catalogue service's family, without building its spec (which needs its client configured)."""
    return catalogue()["services"][service]["family"]


def family_refresh_settings(family: str) -> tuple[str | None, str | None]:
    """The refresh margin setting and idle-refresh setting of a family's tokens."""
    refresh = catalogue()["families"][family]["refresh"]
    return refresh["margin_setting"], refresh["idle_days_setting"]


def redirect_uri(service: str) -> str:
    """The OAuth redirect URI registered with the provider for this service."""
    return f"{get_settings().public_base_url}/api/v1/oauth/{service}/callback"
