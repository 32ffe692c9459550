"""OAuth 2.0 as pure functions: states, PKCE, authorize URLs, token-response parsing. No I/O."""

import base64
import dataclasses
import hashlib
import secrets
import urllib.parse

from common.providers import ProviderSpec

STATE_BYTES = 32  # 256 random bits
VERIFIER_BYTES = 64  # 86 characters, inside RFC 7636's 43..128


def new_state() -> str:
    return secrets.token_urlsafe(STATE_BYTES)


def state_key(state: str) -> str:
    """States are stored under their hash, so the stored key cannot be replayed as a state."""
    return hashlib.sha256(state.encode()).hexdigest()


def new_code_verifier() -> str:
    return secrets.token_urlsafe(VERIFIER_BYTES)


def code_challenge(verifier: str) -> str:
    """S256: unpadded base64url of SHA-256(verifier)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_url(spec: ProviderSpec, state: str, redirect_uri: str, challenge: str | None, login_hint: str | None = None) -> str:
    params = {"client_id": spec.client_id, "state": state, "redirect_uri": redirect_uri, **dict(spec.authorize_params)}
    if spec.scope_param:
        params[spec.scope_param] = spec.scope_separator.join(spec.scopes)
    if spec.pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    if login_hint and spec.login_hint_param:
        params[spec.login_hint_param] = login_hint
    return f"{spec.authorize_url}?{urllib.parse.urlencode(params)}"


@dataclasses.dataclass(frozen=True, repr=False)
class TokenSet:
    """Tokens from one token response. repr never shows them."""

    access_token: str
    refresh_token: str | None
    expires_in: int | None
    scopes: tuple[str, ...] | None  # None: the reply names none, so they are the ones asked for (RFC 6749 5.1)
    raw: dict

    def __repr__(self) -> str:
        return f"TokenSet(scopes={self.scopes!r}, expires_in={self.expires_in!r}, has_refresh={self.refresh_token is not None})"


class TokenResponseError(Exception):
    """The provider refused (error code from the reply) or answered something unusable."""

    def __init__(self, error: str, retryable: bool = False, retry_after: float | None = None):
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(error)


# Slack's ratelimited/internal_error/fatal_error, Notion's rate_limited/internal_server_error/service_overload.
RETRYABLE_ERRORS = frozenset(
    {
        "server_error",
        "temporarily_unavailable",
        "ratelimited",
        "internal_error",
        "fatal_error",
        "rate_limited",
        "internal_server_error",
        "service_overload",
    }
)


def dig(payload: dict, path: tuple[str, ...] | None):
    """The value at a path of keys into nested objects, or None (always None for no path)."""
    if path is None:
        return None
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def parse_token_response(spec: ProviderSpec, status: int, payload, *, refresh: bool = False) -> TokenSet:
    """Read a token endpoint's reply with the spec's paths for that reply (Slack puts the code
    exchange's user token under authed_user, and a refresh's at the top level)."""
    if not isinstance(payload, dict):
        raise TokenResponseError("invalid_response", retryable=status >= 500)
    code = next((str(found) for path in spec.error_paths if isinstance(found := dig(payload, path), str) and found), None)
    if status >= 500 or status == 429:
        raise TokenResponseError(code or f"http_{status}", retryable=True)
    if spec.ok_field and payload.get(spec.ok_field) is not True:
        error = code or "invalid_response"
        raise TokenResponseError(error, retryable=error in RETRYABLE_ERRORS)
    if status >= 400 or code:
        error = code or f"http_{status}"
        raise TokenResponseError(error, retryable=error in RETRYABLE_ERRORS)

    paths = spec.refresh_paths if refresh else spec.exchange_paths
    access = dig(payload, paths["access_token"])
    if not isinstance(access, str) or not access:
        raise TokenResponseError("invalid_response")
    refresh_token = dig(payload, paths["refresh_token"])
    expires_in = dig(payload, paths["expires_in"])
    scope = dig(payload, paths["scope"])
    return TokenSet(
        access_token=access,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        expires_in=int(expires_in) if isinstance(expires_in, (int, float, str)) and str(expires_in).isdigit() else None,
        scopes=None if scope is None else tuple(s for s in str(scope).replace(",", " ").split() if s),
        raw=payload,
    )


# Google may answer a requested short scope in its URL form.
SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


def _canonical(scopes) -> set[str]:
    return {SCOPE_ALIASES.get(s, s) for s in scopes}


def missing_scopes(required: tuple[str, ...], granted: tuple[str, ...]) -> list[str]:
    """Required scopes not granted, either form of an aliased scope counting."""
    have = _canonical(granted)
    return [s for s in required if SCOPE_ALIASES.get(s, s) not in have]


def holds_scopes_of(held, needed, other) -> bool:
    """Whether a token holding `held`, for a service that needs `needed`, also holds any scope that
    only `other` (another service) needs: a grant that merged both services."""
    return bool((_canonical(held) - _canonical(needed)) & _canonical(other))
