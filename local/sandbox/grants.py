"""Codes and tokens the sandbox hands out, shared by its Slack, Google and catalogue-driven parts: single-use codes,
token shapes like the real ones (so log redaction sees real shapes), expiry, revocation by grant, and
Google's per-token scope check (each token carries the scopes consented for its authorization)."""

import base64
import functools
import hashlib
import secrets
import time
import urllib.parse

import flask

from local.sandbox.control import SandboxState

CODE_LIFETIME = 600
SHAPES = {
    ("slack", "access"): lambda: f"xoxp-{secrets.randbelow(10**11)}-{secrets.randbelow(10**11)}-{secrets.token_hex(16)}",
    ("slack", "refresh"): lambda: f"xoxe-1-{secrets.token_urlsafe(48)}",
    ("google", "access"): lambda: f"ya29.a0{secrets.token_urlsafe(96)}",
    ("google", "refresh"): lambda: f"1//0g{secrets.token_urlsafe(64)}",
}


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of a verifier (Google and Slack both check it)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def redirect_to(uri: str, **params: str) -> flask.Response:
    separator = "&" if urllib.parse.urlsplit(uri).query else "?"
    return flask.redirect(f"{uri}{separator}{urllib.parse.urlencode(params)}", 302)


def issue_code(state: SandboxState, record: dict) -> str:
    code = secrets.token_urlsafe(24)
    with state.lock:
        state.codes[code] = {**record, "expires_at": time.time() + CODE_LIFETIME}
    return code


def take_code(state: SandboxState, code: str) -> dict | None:
    with state.lock:
        record = state.codes.pop(code, None)
    return record if record and record["expires_at"] > time.time() else None


def issue_tokens(
    state: SandboxState, family: str, grant: dict, lifetime: int | None, with_refresh: bool, refresh_lifetime: int | None = None
) -> tuple[str, str | None]:
    """A new access token (and refresh token, living `refresh_lifetime` seconds or for ever) for a
    grant {grant_id, account, scopes}."""
    access = SHAPES.get((family, "access"), lambda: f"sbx-{family}-{secrets.token_urlsafe(40)}")()
    refresh = SHAPES.get((family, "refresh"), lambda: f"sbx-{family}-r-{secrets.token_urlsafe(48)}")() if with_refresh else None
    with state.lock:
        state.tokens[access] = {
            **grant,
            "family": family,
            "kind": "access",
            "expires_at": time.time() + lifetime if lifetime else None,
        }
        state.issued.append(access)
        if refresh:
            expires_at = time.time() + refresh_lifetime if refresh_lifetime else None
            state.tokens[refresh] = {**grant, "family": family, "kind": "refresh", "expires_at": expires_at}
            state.issued.append(refresh)
    return access, refresh


def lookup(state: SandboxState, token: str, kind: str = "access") -> dict | None:
    with state.lock:
        record = state.tokens.get(token)
    if not record or record["kind"] != kind or (record["expires_at"] and record["expires_at"] <= time.time()):
        return None
    return record


def count_refresh(state: SandboxState, grant: dict) -> None:
    """One refresh honoured for this grant's account (slack:team:user, otherwise family:email)."""
    account = grant["account"]
    family = grant["family"]
    name = f"slack:{account['team_id']}:{account['user_id']}" if family == "slack" else f"{family}:{account['email']}"
    with state.lock:
        state.refreshes[name] = state.refreshes.get(name, 0) + 1


def spend_refresh_token(state: SandboxState, token: str) -> dict | None:
    """Take a refresh token out of use (single-use refresh tokens, as Slack rotates them); an expired
    one is not honoured."""
    with state.lock:
        record = state.tokens.get(token)
        if record and record["kind"] == "refresh":
            del state.tokens[token]
            return record if not record["expires_at"] or record["expires_at"] > time.time() else None
    return None


def revoke(state: SandboxState, token: str, by: str = "grant_id") -> bool:
    """Revoke every token that shares the revoked one's `by`: its grant (one authorization), or, for
    Google, its account, since revoking any token removes every scope the account granted the client."""
    with state.lock:
        record = state.tokens.get(token)
        if not record:
            return False
        for other, other_record in list(state.tokens.items()):
            if other_record["family"] == record["family"] and other_record[by] == record[by]:
                del state.tokens[other]
        if record["family"] == "google":
            state.grants.pop(("google", record["account"]["email"]), None)  # the next consent is a first consent again
        state.revoked.append(token)
        return True


def bearer() -> str:
    header = flask.request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def _insufficient_scope(service: str, accepted: frozenset[str]):
    """Google's 403 for a valid token without any scope the method accepts."""
    body = {
        "error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
            "status": "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "domain": "googleapis.com",
                    "metadata": {"service": service},
                }
            ],
        }
    }
    challenge = f'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="{" ".join(sorted(accepted))}"'
    return flask.jsonify(body), 403, {"WWW-Authenticate": challenge}


def google_account(state: SandboxState, service: str, accepted: frozenset[str]) -> tuple[str | None, tuple | None]:
    """The email behind a Google API call's bearer token, or Google's 401 (no live token) or 403
    (the token carries none of the scopes the method accepts)."""
    grant = lookup(state, bearer())
    if grant is None or grant["family"] != "google":
        return None, (flask.jsonify({"error": {"code": 401, "message": "Invalid Credentials", "status": "UNAUTHENTICATED"}}), 401)
    if not accepted & set(grant["scopes"]):
        return None, _insufficient_scope(service, accepted)
    return grant["account"]["email"], None


def as_google_user(state: SandboxState, service: str, accepted: frozenset[str]):
    """Route decorator: the handler gets the caller's account email first, or the caller gets Google's 401 or 403."""

    def decorate(handler):
        @functools.wraps(handler)
        def run(*args, **kwargs):
            email, failed = google_account(state, service, accepted)
            if failed:
                return failed
            return handler(email, *args, **kwargs)

        return run

    return decorate
