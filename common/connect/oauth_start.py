"""Starting a connection: a new state, the provider's consent URL, and the state cookie.

Why a cookie with the state: the callback is a browser redirect with no bearer token, so the state
alone would say who the user is. `start` (called by the signed-in user's browser) also sets an
HttpOnly cookie whose hash is stored with the state, and the callback requires it. So a state only
completes in the browser that started it: an attacker cannot send their own authUrl to a victim and
have the victim's provider account attached to the attacker's user, and a state that leaked (logs,
history) cannot be finished elsewhere.
"""

import datetime
import hashlib
import secrets

from common.connect.browser import BrowserStep
from common.oauth.oauth_protocol import authorize_url, code_challenge, new_code_verifier, new_state, state_key
from common.platform.errors import BadRequest
from common.platform.settings import get_settings
from common.platform.timeutil import iso, utcnow
from common.product.analytics import track
from common.product.flags import variant
from common.providers import provider, redirect_uri
from common.stores.oauth_states import create_state
from common.tokens.crypto import get_cipher
from common.tokens.token_fields import verifier_field

MAX_LOGIN_HINT = 254  # the longest email address (RFC 5321's path limit)


def cookie_name(key: str) -> str:
    """The state cookie's name: one per state, so two flows in one browser do not collide."""
    return f"gw_oauth_{key[:16]}"


def state_binding(value: str) -> str:
    """What is stored of the cookie's value: its hash."""
    return hashlib.sha256(value.encode()).hexdigest()


def _allowed_return(return_to: str | None) -> str | None:
    """A returnTo must be exactly one of the configured URLs: nothing else becomes a redirect target."""
    if not return_to:
        return None
    settings = get_settings()
    if return_to not in (settings.oauth_success_url, settings.oauth_failure_url, *settings.oauth_return_allowlist):
        raise BadRequest("returnTo is not on the allow-list", code="invalid_return_to")
    return return_to


def _checked_hint(login_hint: str | None) -> str | None:
    """A loginHint is passed on URL-encoded, as a hint only (the account is still read from the
    provider after the exchange); its length is all there is to check."""
    if login_hint and len(login_hint) > MAX_LOGIN_HINT:
        raise BadRequest(f"loginHint is longer than {MAX_LOGIN_HINT} characters", code="invalid_login_hint")
    return login_hint or None


def start(uid: str, service: str, return_to: str | None, login_hint: str | None = None) -> tuple[dict, BrowserStep]:
    """The reply data, and the state cookie the reply must set in the calling browser. A login hint
    (the account the app expects, e.g. its user's email) goes to providers that take one (Google)."""
    spec = provider(service)
    target = _allowed_return(return_to)
    hint = _checked_hint(login_hint)
    state, now = new_state(), utcnow()
    key, binding = state_key(state), secrets.token_urlsafe(32)
    verifier = new_code_verifier() if spec.pkce else None
    expires_at = now + datetime.timedelta(seconds=get_settings().oauth_state_ttl_seconds)
    create_state(
        key,
        {
            "uid": uid,
            "service": service,
            "scopes": list(spec.scopes),
            "returnTo": target,
            "binding": state_binding(binding),
            "codeVerifier": get_cipher().encrypt(verifier, uid, verifier_field(key)) if verifier else None,
            "createdAt": now,
            "expiresAt": expires_at,
        },
    )
    auth_url = authorize_url(spec, state, redirect_uri(service), code_challenge(verifier) if verifier else None, hint)
    cookie = BrowserStep("", cookie_name(key), binding, f"/api/v1/oauth/{service}/")
    tested = variant(uid, "oauth_flow_optimization")
    track("integration_connection_initiated", uid=uid, provider=service, variant=tested)
    track("integration_oauth_redirect", uid=uid, provider=service, variant=tested)
    return {"authUrl": auth_url, "state": state, "expiresAt": iso(expires_at)}, cookie
