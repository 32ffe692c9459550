"""The OAuth side of every catalogue family without a hand-written module (Asana, Notion, Microsoft,
and any family a catalogue adds), driven by its catalogue entry: routes at the entry's URLs, the
client authenticated as `token.client_auth` says, the token request read as form or JSON, PKCE S256
checked when `authorize.pkce`, replies built by writing each value at the paths `reply` and `account`
name (so a reply has exactly the shape the gateway is told to read), errors at `reply.error_paths`
(Notion's `code`), refresh as `refresh.kind` says (rotating: a new refresh token each time, the old
one still honoured, as Microsoft documents; non-rotating: none in the reply), revoke as `revoke`
says. Slack and Google keep their own modules (slack.py, google.py) for quirks no field describes.

Each service's API is a stand-in under its `api_base`: a call with a live token of the family gets
200 with what it asked for echoed (`{"sandbox": ...}`), any other a 401 in the family's error shape."""

import base64
import hashlib
import secrets
import uuid

import flask

from common.platform.secrets import get_secret
from common.providers.catalogue import PLACEHOLDER
from local.sandbox import accounts, consent, grants
from local.sandbox.control import SandboxState, provider_route

HAND_WRITTEN = frozenset({"slack", "google"})
DEFAULT_LIFETIME = 3600  # an access token's life where the family's replies carry expires_in


def register(app: flask.Flask, state: SandboxState, catalogue: dict, settings) -> None:
    families = {name: family for name, family in catalogue["families"].items() if name not in HAND_WRITTEN}
    for name, family in families.items():
        _Family(name, family, settings).register(app, state)
    apis = {}  # one stand-in per family and API base (Outlook mail and calendar share Graph's)
    for entry in catalogue["services"].values():
        if entry["family"] in families:
            apis.setdefault((entry["family"], entry["api_base"]), entry)
    for (name, _), entry in apis.items():
        _register_api(app, state, name, entry, families[name], settings)


def _route(template: str, family: dict, settings) -> tuple[str, dict[str, str]]:
    """The Flask rule of a catalogue URL (its host placeholder dropped, path parameters as variables)
    and the values those parameters must have (the gateway's settings)."""
    path = template.split("}", 1)[1] if template.startswith("{") else template
    expected = {name: getattr(settings, setting.lower()) for name, setting in family["path_params"].items()}
    return PLACEHOLDER.sub(lambda match: f"<{match.group(1)}>", path), expected


def _put(reply: dict, path: str | None, value) -> None:
    """Write `value` at a dotted path, making the objects on the way."""
    if path is None or value is None:
        return
    *parents, last = path.split(".")
    for key in parents:
        reply = reply.setdefault(key, {})
    reply[last] = value


def _account_values(family_name: str, rule: dict, email: str) -> dict[str, str]:
    """A value for every path the family's account rule names, derived from the email signed in with:
    emails where a path names one, a display name, and stable ids (UUID form) elsewhere."""
    values = {}
    fields = [path for paths in rule["fields"].values() for path in ([paths] if isinstance(paths, str) else paths)]
    for path in [*rule["key"], *fields]:
        last = path.rsplit(".", 1)[-1].lower()
        if "mail" in last or last == "userprincipalname":
            values[path] = email
        elif "name" in last:
            values[path] = email.split("@")[0].replace(".", " ").title()
        else:
            values[path] = str(uuid.UUID(bytes=hashlib.sha256(f"{family_name}:{path}:{email}".encode()).digest()[:16]))
    return values


class _Family:
    def __init__(self, name: str, family: dict, settings):
        self.name, self.family, self.settings = name, family, settings
        self.client_id = getattr(settings, family["client"]["id_setting"].lower())
        self.client_secret = get_secret(family["client"]["secret_setting"])
        self.error_path = family["reply"]["error_paths"][0]

    def error(self, status: int, code: str, description: str):
        body = {"error_description": description, "message": description}
        if self.error_path == "code":  # Notion's shape: {"object": "error", "status", "code", "message"}
            body = {"object": "error", "status": status, "message": description}
        _put(body, self.error_path, code)
        return flask.jsonify(body), status

    def register(self, app: flask.Flask, state: SandboxState) -> None:
        family, name = self.family, self.name
        authorize_rule, expected = _route(family["authorize"]["url"], family, self.settings)
        token_rule, _ = _route(family["token"]["url"], family, self.settings)
        decision = f"/_sandbox/consent/{name}"

        def wrong_path_params(values: dict) -> bool:
            return any(values.get(key) != value for key, value in expected.items())

        def authorize(**path_values):
            args = flask.request.args
            if wrong_path_params(path_values):
                return "Error 400: the tenant in the URL is not this app's", 400
            if args.get("client_id") != self.client_id:
                return "Error 401: invalid_client. The application was not found.", 401
            if args.get("response_type") != "code" or not args.get("redirect_uri"):
                return "Error 400: invalid_request. response_type=code and redirect_uri are required", 400
            if family["authorize"]["pkce"] and args.get("code_challenge_method") != "S256":
                return "Error 400: invalid_request. PKCE S256 is required", 400
            scope_param, separator = family["authorize"]["scope_param"], family["authorize"]["scope_separator"]
            scopes = [s for s in args.get(scope_param, "").split(separator) if s] if scope_param else []
            hint = args.get("login_hint") or accounts.google_email(args.get("sandbox_uid"))
            return consent.show(
                state,
                f"Sign in to {name} (sandbox)",
                decision,
                self.client_id,
                scopes,
                {"email": ("Account", hint)},
                {"redirect_uri": args["redirect_uri"], "state": args.get("state", ""), "challenge": args.get("code_challenge")},
            )

        def decide():
            pending, answered = consent.approved_request(state)
            if answered is not None:
                return answered
            email = flask.request.form.get("email", accounts.DEFAULT_GOOGLE_EMAIL).strip().lower()
            account = {"email": email, "values": _account_values(name, family["account"], email)}
            scopes = flask.request.form.getlist("scope")
            record = {"redirect_uri": pending["redirect_uri"], "challenge": pending["challenge"], "account": account}
            code = grants.issue_code(state, {**record, "family": name, "scopes": scopes})
            return grants.redirect_to(pending["redirect_uri"], code=code, state=pending["state"])

        app.add_url_rule(authorize_rule, f"{name}_authorize", authorize, methods=["GET"])
        app.add_url_rule(decision, f"{name}_decision", decide, methods=["POST"])
        token = provider_route(state, f"{name}.token")(lambda **values: self.token(state, wrong_path_params(values)))
        app.add_url_rule(token_rule, f"{name}_token", token, methods=["POST"])
        if family["revoke"]["url"]:
            revoke_rule, _ = _route(family["revoke"]["url"], family, self.settings)
            app.add_url_rule(
                revoke_rule,
                f"{name}_revoke",
                provider_route(state, f"{name}.revoke")(lambda: self.revoke(state)),
                methods=["POST"],
            )
        if family["account"]["url"]:
            userinfo_rule, _ = _route(family["account"]["url"], family, self.settings)
            userinfo = provider_route(state, f"{name}.userinfo")(lambda: self.userinfo(state))
            app.add_url_rule(userinfo_rule, f"{name}_userinfo", userinfo, methods=["GET"])

    def _request(self) -> dict:
        request = flask.request
        if self.family["token"]["format"] == "json":
            body = request.get_json(silent=True)
            return body if isinstance(body, dict) else {}
        return request.form.to_dict()

    def _client_proven(self, body: dict, method: str, with_secret: bool = True) -> bool:
        if method == "basic":
            auth = flask.request.authorization
            if not auth or auth.username != self.client_id:
                return False
            return secrets.compare_digest(auth.password or "", self.client_secret)
        if method == "body":
            if body.get("client_id") != self.client_id:
                return False
            return not with_secret or secrets.compare_digest(str(body.get("client_secret", "")), self.client_secret)
        return True

    def token(self, state: SandboxState, wrong_path_params: bool):
        family = self.family
        body = self._request()
        exchange_secret = family["token"]["exchange_secret"] or body.get("grant_type") == "refresh_token"
        if wrong_path_params or not self._client_proven(body, family["token"]["client_auth"], exchange_secret):
            return self.error(401, "invalid_client", "Client authentication failed.")
        if body.get("grant_type") == "refresh_token":
            return self._refresh(state, str(body.get("refresh_token", "")), str(body.get("scope", "")))
        if body.get("grant_type") != "authorization_code":
            return self.error(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        code = grants.take_code(state, str(body.get("code", "")))
        if code is None or code.get("family") != self.name:
            return self.error(400, "invalid_grant", "The authorization code is invalid or expired.")
        if body.get("redirect_uri") != code["redirect_uri"]:
            return self.error(400, "invalid_grant", "redirect_uri does not match the authorization request.")
        if code["challenge"] and not secrets.compare_digest(grants.s256(str(body.get("code_verifier", ""))), code["challenge"]):
            return self.error(400, "invalid_grant", "The code_verifier does not match the code_challenge.")
        grant = {"grant_id": secrets.token_hex(8), "account": code["account"], "scopes": code["scopes"]}
        with state.lock:  # what the account has consented to this client, over every authorization
            consented = state.grants.setdefault((self.name, code["account"]["email"]), set())
            consented.update(code["scopes"])
        with_refresh = family["refresh"]["kind"] != "none"
        access, refresh = grants.issue_tokens(state, self.name, grant, self._lifetime(state), with_refresh=with_refresh)
        reply = self._tokens_reply(family["reply"]["exchange"], grant, access, refresh, state)
        if family["account"]["from"] == "token_reply":
            for path, value in code["account"]["values"].items():
                _put(reply, path, value)
        return flask.jsonify(reply)

    def _scoped(self, state: SandboxState, grant: dict, asked: str) -> dict | None:
        """Microsoft's refresh tokens serve every scope the account consented to the client: the
        new token carries the scopes asked for (all consented ones when none are), or none is issued
        when one asked for was never consented to."""
        with state.lock:
            consented = set(state.grants.get((self.name, grant["account"]["email"]), grant["scopes"]))
        wanted = [s for s in asked.split(self.family["authorize"]["scope_separator"]) if s]
        if not wanted:
            return {**grant, "scopes": sorted(consented)}
        return {**grant, "scopes": wanted} if set(wanted) <= consented else None

    def _refresh(self, state: SandboxState, refresh_token: str, body_scope: str = ""):
        kind = self.family["refresh"]["kind"]
        if kind == "rotating_single_use":
            grant = grants.spend_refresh_token(state, refresh_token)
        else:
            grant = grants.lookup(state, refresh_token, kind="refresh")
        if grant is None or grant["family"] != self.name:
            return self.error(400, "invalid_grant", "The refresh token is invalid, expired or revoked.")
        if self.family["refresh"]["scope_per_service"]:
            grant = self._scoped(state, grant, body_scope)
            if grant is None:
                return self.error(400, "invalid_scope", "AADSTS65001: The user has not consented to the scope asked for.")
        grants.count_refresh(state, grant)
        rotating = kind in ("rotating", "rotating_single_use")
        access, refresh = grants.issue_tokens(state, self.name, grant, self._lifetime(state), with_refresh=rotating)
        return flask.jsonify(self._tokens_reply(self.family["reply"]["refresh"], grant, access, refresh, state))

    def _lifetime(self, state: SandboxState) -> int | None:
        """Access tokens expire only where the family's replies say when (Notion's do not)."""
        if self.family["reply"]["exchange"]["expires_in"] is None:
            return None
        return state.config.get(f"{self.name}_token_lifetime", DEFAULT_LIFETIME)

    def _tokens_reply(self, paths: dict, grant: dict, access: str, refresh: str | None, state: SandboxState) -> dict:
        unreturned = set(self.family["authorize"]["unreturned_scopes"])
        scopes = [s for s in grant["scopes"] if s not in unreturned]
        reply = {"token_type": "bearer"}
        _put(reply, paths["access_token"], access)
        _put(reply, paths["refresh_token"], refresh)
        _put(reply, paths["expires_in"], self._lifetime(state))
        _put(reply, paths["scope"], self.family["authorize"]["scope_separator"].join(scopes))
        return reply

    def revoke(self, state: SandboxState):
        rule = self.family["revoke"]
        missing = [header for header in rule["headers"] if header not in flask.request.headers]
        if missing:
            return self.error(400, "missing_version", f"The {', '.join(missing)} header is required.")
        body = flask.request.get_json(silent=True) if rule["send"] == "json" else flask.request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        if not self._client_proven(body, rule["client_auth"]):
            return self.error(401, "invalid_client", "Client authentication failed.")
        token = grants.bearer() if rule["send"] == "bearer" else str(body.get("token", ""))
        if not grants.revoke(state, token):
            return self.error(400, "invalid_grant", "The token is invalid or already revoked.")
        return flask.jsonify({"request_id": str(uuid.uuid4())})

    def userinfo(self, state: SandboxState):
        grant = grants.lookup(state, grants.bearer())
        if grant is None or grant["family"] != self.name:
            return self.error(401, "InvalidAuthenticationToken", "Access token is empty, expired or revoked.")
        reply = {}
        for path, value in grant["account"]["values"].items():
            _put(reply, path, value)
        return flask.jsonify(reply)


def _register_api(app: flask.Flask, state: SandboxState, family_name: str, entry: dict, family: dict, settings) -> None:
    base, _ = _route(entry["api_base"], family, settings)
    error_path = family["reply"]["error_paths"][0]

    @provider_route(state, f"{family_name}.api")
    def api(rest: str):
        grant = grants.lookup(state, grants.bearer())
        if grant is None or grant["family"] != family_name:
            body = {"message": "The access token is invalid, expired or revoked."}
            _put(body, error_path, "unauthorized")
            return flask.jsonify(body), 401
        missing = [header for header in entry["api_headers"] if header not in flask.request.headers]
        if missing:
            return flask.jsonify({"message": f"The {', '.join(missing)} header is required."}), 400
        data = flask.request.get_data()
        echoed = {"method": flask.request.method, "path": rest, "body": base64.b64encode(data).decode() if data else None}
        return flask.jsonify({"sandbox": {**echoed, "family": family_name, "email": grant["account"]["email"]}})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app.add_url_rule(f"{base}<path:rest>", f"{family_name}_api", api, methods=methods)
