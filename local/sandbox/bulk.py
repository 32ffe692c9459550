"""Many consented grants at once, for benchmarks and load runs that need thousands of connections
without driving thousands of consent pages; and the provider's view of many tokens at once, so a
load run can show that every stored token still works."""

import secrets
import time

import flask

from local.sandbox import grants
from local.sandbox.control import SandboxState

MAX_MINT = 20000


def register(app: flask.Flask, state: SandboxState) -> None:
    @app.post("/_sandbox/mint")
    def sandbox_mint_grants():
        """{"family": "slack"|"google", "count": N} -> [{"account", "access_token", "refresh_token"}]"""
        body = flask.request.get_json(force=True) or {}
        family, count = body.get("family"), body.get("count", 1)
        if family not in ("slack", "google") or not isinstance(count, int) or not 0 < count <= MAX_MINT:
            return flask.jsonify({"error": f"family slack|google and count 1..{MAX_MINT} are required"}), 400
        lifetime = state.config["slack_token_lifetime" if family == "slack" else "google_token_lifetime"]
        minted = []
        for _ in range(count):
            grant_id = secrets.token_hex(8)
            account = (
                {"team_id": "T0BENCH", "team_name": "Bench", "user_id": f"U{grant_id.upper()}"}
                if family == "slack"
                else {"email": f"{grant_id}@example.com", "sub": grant_id}
            )
            access, refresh = grants.issue_tokens(
                state, family, {"grant_id": grant_id, "account": account, "scopes": []}, lifetime, True
            )
            minted.append({"account": account, "access_token": access, "refresh_token": refresh})
        return flask.jsonify(minted)

    @app.post("/_sandbox/introspect")
    def sandbox_introspect():
        """{"tokens": [...]} -> [{"kind": "access"|"refresh"|null, "state": "live"|"expired"|"unknown"}], in order.
        A spent (rotated) or revoked refresh token is unknown: the provider no longer honours it."""
        tokens = (flask.request.get_json(force=True) or {}).get("tokens")
        if not isinstance(tokens, list):
            return flask.jsonify({"error": "tokens must be a list"}), 400
        now, answers = time.time(), []
        with state.lock:
            for token in tokens:
                record = state.tokens.get(token) if isinstance(token, str) else None
                if record is None:
                    answers.append({"kind": None, "state": "unknown"})
                else:
                    expired = record["expires_at"] is not None and record["expires_at"] <= now
                    answers.append({"kind": record["kind"], "state": "expired" if expired else "live"})
        return flask.jsonify(answers)
