"""Slack's OAuth v2 and the Web API calls the gateway makes, in Slack's wire format: errors are
HTTP 200 {"ok": false, "error": ...}; client credentials by HTTP Basic or in the form.

The app has PKCE turned on (docs.slack.dev/authentication/using-pkce): an authorize request may carry
an S256 `code_challenge` (no other method); its code is then exchanged with the matching
`code_verifier` and the client id, without the client secret (a secret that is sent must still be
right). A code issued without a challenge needs the secret, as before. Refresh tokens of a PKCE app
expire 30 days after they are issued (each rotation issues a new one). Slack lists no error of its
own for a wrong or missing verifier, so the sandbox answers its documented `invalid_code`; the code
is spent by the refused exchange, like any exchange attempt.

Web API methods the proxy reaches (conversations.list, chat.postMessage) take the token as
`Authorization: Bearer`, GET or POST (form or JSON), and answer as Slack does: `not_authed` without a
token, `invalid_auth` for an unknown one, `token_expired` for an expired one, `missing_scope` with
`needed` and `provided`."""

import secrets
import time

import flask

from local.sandbox import accounts, consent, grants
from local.sandbox.control import SandboxState, provider_route
from local.sandbox.slack_events import APP_ID

PKCE_REFRESH_LIFETIME = 30 * 86400  # "all refresh tokens issued to your app will expire in 30 days"
CHANNELS = (("C0GENERAL", "general", True), ("C0RANDOM", "random", False))


def _channel(team_id: str, channel_id: str, name: str, general: bool) -> dict:
    """A public channel as conversations.list lists it."""
    about = {"value": "", "creator": "", "last_set": 0}
    return {
        "id": channel_id,
        "name": name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": False,
        "created": 1449252889,
        "is_archived": False,
        "is_general": general,
        "unlinked": 0,
        "name_normalized": name,
        "is_shared": False,
        "is_org_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "context_team_id": team_id,
        "updated": 1678229664302,
        "parent_conversation": None,
        "creator": "U0SANDBOX",
        "is_ext_shared": False,
        "shared_team_ids": [team_id],
        "pending_connected_team_ids": [],
        "is_member": True,
        "topic": about,
        "purpose": about,
        "previous_names": [],
        "num_members": 2,
    }


def register(app: flask.Flask, state: SandboxState, client_id: str, client_secret: str) -> None:
    def error(code: str):
        return flask.jsonify({"ok": False, "error": code})

    @app.get("/oauth/v2/authorize")
    def slack_authorize():
        args = flask.request.args
        if args.get("client_id") != client_id:
            return "Invalid client_id parameter", 400
        if args.get("code_challenge") and args.get("code_challenge_method") != "S256":
            return "Invalid code_challenge_method: S256 is the only supported method", 400
        scopes = [s for s in args.get("user_scope", "").split(",") if s] + [s for s in args.get("scope", "").split(",") if s]
        account = accounts.slack_account(args.get("sandbox_uid"))  # not a Slack parameter: the dev console's hint
        return consent.show(
            state,
            "Slack: allow access to the sandbox workspace",
            "/oauth/v2/authorize/decision",
            client_id,
            scopes,
            {
                "team_id": ("Team id", account["team_id"]),
                "team_name": ("Team name", account["team_name"]),
                "user_id": ("User id", account["user_id"]),
            },
            {
                "redirect_uri": args.get("redirect_uri", ""),
                "state": args.get("state", ""),
                "challenge": args.get("code_challenge"),
            },
        )

    @app.post("/oauth/v2/authorize/decision")
    def slack_decision():
        pending, answered = consent.approved_request(state)
        if answered is not None:
            return answered
        request = flask.request
        account = {
            "team_id": request.form.get("team_id", "T0SANDBOX"),
            "team_name": request.form.get("team_name", ""),
            "user_id": request.form.get("user_id", "U0SANDBOX"),
        }
        code = grants.issue_code(
            state,
            {
                "redirect_uri": pending["redirect_uri"],
                "challenge": pending["challenge"],
                "account": account,
                "scopes": request.form.getlist("scope"),
            },
        )
        return grants.redirect_to(pending["redirect_uri"], code=code, state=pending["state"])

    def client_ok(secret_required: bool = True) -> str | None:
        auth = flask.request.authorization
        given_id = auth.username if auth else flask.request.form.get("client_id")
        given_secret = auth.password if auth else flask.request.form.get("client_secret")
        if given_id != client_id:
            return "invalid_client_id"
        if given_secret is None and not secret_required:
            return None
        if not secrets.compare_digest(str(given_secret or ""), client_secret):
            return "bad_client_secret"
        return None

    def token_fields(grant: dict) -> dict:
        config = state.config
        lifetime = config["slack_token_lifetime"] if config["slack_rotation"] else None
        access, refresh = grants.issue_tokens(
            state, "slack", grant, lifetime, with_refresh=config["slack_rotation"], refresh_lifetime=PKCE_REFRESH_LIFETIME
        )
        fields = {"access_token": access, "token_type": "user", "scope": ",".join(grant["scopes"])}
        if config["slack_rotation"]:
            fields.update(refresh_token=refresh, expires_in=lifetime)
        return fields

    @app.post("/api/oauth.v2.access")
    @provider_route(state, "slack.oauth.v2.access")
    def slack_oauth_access():
        form = flask.request.form
        if form.get("grant_type") == "refresh_token":
            problem = client_ok()
            if problem:
                return error(problem)
            grant = grants.spend_refresh_token(state, form.get("refresh_token", ""))
            if grant is None or grant["family"] != "slack":
                return error("invalid_refresh_token")
            grants.count_refresh(state, grant)
            return flask.jsonify({"ok": True, **token_fields(grant)})
        problem = client_ok(secret_required=False)
        if problem:
            return error(problem)
        code = grants.take_code(state, form.get("code", ""))
        if code is None:
            return error("invalid_code")
        if not code["challenge"] and (problem := client_ok()):
            return error(problem)
        if code["challenge"] and not secrets.compare_digest(grants.s256(form.get("code_verifier", "")), code["challenge"]):
            return error("invalid_code")
        if form.get("redirect_uri") != code["redirect_uri"]:
            return error("bad_redirect_uri")
        account = code["account"]
        grant = {"grant_id": secrets.token_hex(8), "account": account, "scopes": code["scopes"]}
        return flask.jsonify(
            {
                "ok": True,
                "app_id": APP_ID,
                "authed_user": {"id": account["user_id"], **token_fields(grant)},
                "scope": "",
                "token_type": "bot",
                "team": {"id": account["team_id"], "name": account["team_name"]},
                "enterprise": None,
                "is_enterprise_install": False,
            }
        )

    @app.post("/api/auth.revoke")
    @provider_route(state, "slack.auth.revoke")
    def slack_auth_revoke():
        token = grants.bearer() or flask.request.form.get("token", "")
        if not grants.lookup(state, token):
            return error("invalid_auth")
        grants.revoke(state, token)
        return flask.jsonify({"ok": True, "revoked": True})

    def web_api_caller(scope: str):
        """(grant, None) for a Web API call whose token has `scope`, else (None, Slack's error reply)."""
        token = grants.bearer()
        if not token:
            return None, error("not_authed")
        with state.lock:
            known = state.tokens.get(token)
        grant = grants.lookup(state, token)
        if grant is None or grant["family"] != "slack":
            expired = grant is None and known and known["kind"] == "access" and known["family"] == "slack"
            return None, error("token_expired" if expired else "invalid_auth")
        if scope not in grant["scopes"]:
            return None, flask.jsonify(
                {"ok": False, "error": "missing_scope", "needed": scope, "provided": ",".join(grant["scopes"])}
            )
        return grant, None

    def params() -> dict:
        return {**flask.request.args, **flask.request.form, **(flask.request.get_json(silent=True) or {})}

    @app.route("/api/conversations.list", methods=["GET", "POST"])
    @provider_route(state, "slack.conversations.list")
    def slack_conversations_list():
        grant, refused = web_api_caller("channels:read")
        if refused:
            return refused
        team = grant["account"]["team_id"]
        channels = [_channel(team, channel_id, name, general) for channel_id, name, general in CHANNELS]
        return flask.jsonify({"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})

    @app.post("/api/chat.postMessage")
    @provider_route(state, "slack.chat.postMessage")
    def slack_chat_post_message():
        grant, refused = web_api_caller("chat:write")
        if refused:
            return refused
        given = params()
        if given.get("channel") not in {channel_id for channel_id, _, _ in CHANNELS}:
            return error("channel_not_found")
        if not given.get("text") and not given.get("blocks"):
            return error("no_text")
        ts = f"{time.time():.6f}"
        account = grant["account"]
        message = {"user": account["user_id"], "type": "message", "ts": ts, "text": given.get("text", "")}
        message["team"] = account["team_id"]
        return flask.jsonify({"ok": True, "channel": given["channel"], "ts": ts, "message": message})

    @app.route("/api/auth.test", methods=["GET", "POST"])
    @provider_route(state, "slack.auth.test")
    def slack_auth_test():
        grant = grants.lookup(state, grants.bearer() or flask.request.form.get("token", ""))
        if grant is None:
            return error("invalid_auth")
        account = grant["account"]
        return flask.jsonify(
            {
                "ok": True,
                "url": "https://sandbox.slack.com/",
                "team": account["team_name"],
                "user": account["user_id"].lower(),
                "team_id": account["team_id"],
                "user_id": account["user_id"],
            }
        )
