"""Google's OAuth 2.0 endpoints (consent page, token, revoke, userinfo) in Google's wire format:
errors are HTTP 4xx {"error": ..., "error_description": ...}; PKCE S256 is checked. A token carries
the scopes consented for its authorization, plus the account's earlier grants to this client only
when the authorization asked for include_granted_scopes=true; revoking any token revokes all of
the account's grant to the client, every authorization's tokens with it."""

import hashlib
import secrets

import flask

from local.sandbox import accounts, consent, grants
from local.sandbox.control import SandboxState, provider_route

SCOPE_URLS = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


def register(app: flask.Flask, state: SandboxState, client_id: str, client_secret: str) -> None:
    def error(status: int, code: str, description: str):
        return flask.jsonify({"error": code, "error_description": description}), status

    @app.get("/o/oauth2/v2/auth")
    def google_authorize():
        args = flask.request.args
        if args.get("client_id") != client_id:
            return "Error 401: invalid_client. The OAuth client was not found.", 401
        if args.get("response_type") != "code" or not args.get("redirect_uri"):
            return "Error 400: invalid_request. Required parameter is missing: response_type or redirect_uri", 400
        if args.get("code_challenge") and args.get("code_challenge_method") != "S256":
            return "Error 400: invalid_request. Invalid code_challenge_method", 400
        return consent.show(
            state,
            "Sign in with Google (sandbox)",
            "/o/oauth2/v2/auth/decision",
            client_id,
            args.get("scope", "").split(),
            {"email": ("Account", args.get("login_hint") or accounts.DEFAULT_GOOGLE_EMAIL)},  # as Google preselects it
            {
                "redirect_uri": args["redirect_uri"],
                "state": args.get("state", ""),
                "challenge": args.get("code_challenge"),
                "include_granted_scopes": args.get("include_granted_scopes") == "true",
                "offline": args.get("access_type") == "offline",
            },
        )

    @app.post("/o/oauth2/v2/auth/decision")
    def google_decision():
        pending, answered = consent.approved_request(state)
        if answered is not None:
            return answered
        request = flask.request
        email = request.form.get("email", accounts.DEFAULT_GOOGLE_EMAIL).strip().lower()
        scopes = {SCOPE_URLS.get(s, s) for s in request.form.getlist("scope")}
        with state.lock:
            earlier = state.grants.setdefault(("google", email), set())
            first_consent = not earlier
            if pending["include_granted_scopes"]:
                scopes |= earlier
            earlier |= scopes
        code = grants.issue_code(
            state,
            {
                "redirect_uri": pending["redirect_uri"],
                "challenge": pending["challenge"],
                "account": {"email": email, "sub": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))},
                "scopes": sorted(scopes),
                "first_consent": first_consent,
                "offline": pending["offline"],
            },
        )
        return grants.redirect_to(pending["redirect_uri"], code=code, state=pending["state"], scope=" ".join(sorted(scopes)))

    @app.post("/token")
    @provider_route(state, "google.token")
    def google_token():
        form = flask.request.form
        if form.get("client_id") != client_id or not secrets.compare_digest(form.get("client_secret", ""), client_secret):
            return error(401, "invalid_client", "The OAuth client was not found.")
        lifetime = state.config["google_token_lifetime"]
        if form.get("grant_type") == "refresh_token":
            grant = grants.lookup(state, form.get("refresh_token", ""), kind="refresh")
            if grant is None or grant["family"] != "google":
                return error(400, "invalid_grant", "Token has been expired or revoked.")
            grants.count_refresh(state, grant)
            access, _ = grants.issue_tokens(state, "google", grant, lifetime, with_refresh=False)
            return flask.jsonify(
                {"access_token": access, "expires_in": lifetime, "scope": " ".join(grant["scopes"]), "token_type": "Bearer"}
            )
        if form.get("grant_type") != "authorization_code":
            return error(400, "unsupported_grant_type", "Invalid grant_type")
        code = grants.take_code(state, form.get("code", ""))
        if code is None:
            return error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != code["redirect_uri"]:
            return error(400, "redirect_uri_mismatch", "Bad Request")
        if code["challenge"]:
            verifier = form.get("code_verifier", "")
            if not verifier:
                return error(400, "invalid_grant", "Missing code verifier.")
            if not secrets.compare_digest(grants.s256(verifier), code["challenge"]):
                return error(400, "invalid_grant", "Invalid code verifier.")
        # A refresh token only for offline access, and on a repeat consent only where Google would give one.
        with_refresh = code["offline"] and (code["first_consent"] or state.config["google_reconsent_refresh_token"])
        grant = {"grant_id": secrets.token_hex(8), "account": code["account"], "scopes": code["scopes"]}
        access, refresh = grants.issue_tokens(state, "google", grant, lifetime, with_refresh=with_refresh)
        reply = {"access_token": access, "expires_in": lifetime, "scope": " ".join(code["scopes"]), "token_type": "Bearer"}
        if refresh:
            reply["refresh_token"] = refresh
        return flask.jsonify(reply)

    @app.post("/revoke")
    @provider_route(state, "google.revoke")
    def google_revoke():
        token = flask.request.args.get("token") or flask.request.form.get("token", "")
        if not grants.revoke(state, token, by="account"):
            return error(400, "invalid_token", "Token expired or revoked")
        return flask.jsonify({})

    @app.get("/v1/userinfo")
    @provider_route(state, "google.userinfo")
    def google_userinfo():
        grant = grants.lookup(state, grants.bearer())
        if grant is None:
            return error(401, "invalid_request", "Invalid Credentials")
        account = grant["account"]
        return flask.jsonify({"sub": account["sub"], "email": account["email"], "email_verified": True})
