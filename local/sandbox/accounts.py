"""Sandbox accounts derived from a dev uid, so that each uid signing in to the console meets "its own"
Slack user and Google address on the consent pages (two uids connecting in turn is then two
accounts, not `account_in_use`). Real providers know who is signed in to them; the sandbox has only
these hints: Google's own `login_hint` (which the gateway sends when the app passes `loginHint`) and,
for Slack, which takes no such parameter, a sandbox-only `sandbox_uid` the console adds to the
consent URL. The consent page only pre-fills its fields: whatever is submitted is the account."""

import base64
import hashlib
import re

import flask

SLACK_TEAM = {"team_id": "T0SANDBOX", "team_name": "Sandbox Workspace"}
DEFAULT_SLACK_USER = "U0SANDBOX"
DEFAULT_GOOGLE_EMAIL = "user@example.com"
MAIL_DOMAIN = "example.com"
UNSAFE = re.compile(r"[^a-z0-9._-]+")


def _digest(uid: str) -> bytes:
    return hashlib.sha256(uid.encode()).digest()


def slack_account(uid: str | None) -> dict:
    """The sandbox workspace's user for `uid`: an id shaped like Slack's (U and upper-case letters and digits)."""
    if not uid:
        return {**SLACK_TEAM, "user_id": DEFAULT_SLACK_USER}
    return {**SLACK_TEAM, "user_id": "U" + base64.b32encode(_digest(uid)).decode()[:10]}


def google_email(uid: str | None) -> str:
    """`uid@example.com` for a uid that is a plain local part; otherwise its safe part and a short
    hash (so that two uids never share an address)."""
    if not uid:
        return DEFAULT_GOOGLE_EMAIL
    local = UNSAFE.sub("-", uid.lower()).strip("-.")[:48]
    if local != uid:
        local = f"{local or 'uid'}-{_digest(uid).hex()[:8]}"
    return f"{local}@{MAIL_DOMAIN}"


def register(app: flask.Flask) -> None:
    @app.get("/_sandbox/accounts")
    def sandbox_accounts():
        """The accounts the consent pages offer `uid` (the console shows them and hints with them)."""
        uid = flask.request.args.get("uid", "")
        if not uid or len(uid) > 128:
            return flask.jsonify({"error": "uid must be 1 to 128 characters"}), 400
        slack = slack_account(uid)
        return flask.jsonify(
            {
                "uid": uid,
                "slack": {"teamId": slack["team_id"], "teamName": slack["team_name"], "userId": slack["user_id"]},
                "google": {"email": google_email(uid)},
            }
        )
