"""Where the test stack sends the browser after OAuth, the app origin it allows (tests/conftest.py),
and where a flow landed."""

import urllib.parse

import requests

APP_ORIGIN = "https://app.example.test"
SUCCESS_URL = "https://app.example.test/connected"
FAILURE_URL = "https://app.example.test/failed"


def landed(reply: requests.Response) -> dict:
    """Where the callback sent the browser: {"outcome": "success"|"failure", params...}."""
    assert reply.status_code == 302, reply.text
    location = reply.headers["Location"]
    base, _, query = location.partition("?")
    outcome = {SUCCESS_URL: "success", FAILURE_URL: "failure"}.get(base, base)
    return {"outcome": outcome, **dict(urllib.parse.parse_qsl(query))}


def held_tokens(uid: str) -> dict[str, dict[str, str]]:
    """Every token the gateway stores for a user, decrypted: {connection id: {"access_token", "refresh_token"?}}
    (a user's first connection of a service is named after it)."""
    from common.platform.clients import firestore_client
    from common.tokens.crypto import get_cipher
    from common.tokens.token_fields import token_field

    held = {}
    for doc in firestore_client().collection("users").document(uid).collection("connections").stream():
        record = doc.to_dict()
        held[doc.id] = {
            kind: get_cipher().decrypt(record[column], uid, token_field(record["service"], kind))
            for kind, column in (("access_token", "accessToken"), ("refresh_token", "refreshToken"))
            if record.get(column)
        }
    return held


def google_access_tokens(sandbox, uid: str) -> list[str]:
    """Every Google access token the user's stored tokens give: the stored ones, and a fresh one from
    each stored refresh token (a refresh token the provider no longer honours gives none)."""
    from common.platform.secrets import get_secret
    from common.platform.settings import get_settings

    client = {"client_id": get_settings().google_client_id, "client_secret": get_secret("GOOGLE_CLIENT_SECRET")}
    tokens = []
    for service, held in held_tokens(uid).items():
        if service == "slack":
            continue
        tokens.append(held["access_token"])
        if "refresh_token" in held:
            form = {**client, "grant_type": "refresh_token", "refresh_token": held["refresh_token"]}
            reply = sandbox.post("/token", data=form)
            if reply.status_code == 200:
                tokens.append(reply.json()["access_token"])
    return tokens
