"""Who may call the backend routes: only a Google-signed ID token minted for APP_BACKEND_AUDIENCE,
of a listed service account with a verified email; never an end user's Firebase token. And a
backend token never signs anyone in as an end user. Through the real stack (emulated gateway)."""

import functions_framework
import pytest

from common.platform.errors import ConfigError
from common.platform.settings import load_settings, reset_settings
from common.serving.config_check import reset_configuration_check
from local.catalog import FUNCTIONS_DIR
from tests.backend_helpers import BACKEND_ACCOUNT, BACKEND_AUDIENCE, backend_token

ROUTES = [
    ("backend_credentials", "get", "/api/v1/users/alice/connections/gmail/credentials", None),
    ("backend_tags", "put", "/api/v1/users/alice/connections/gmail/tags", {"tags": {"organizationId": "acme"}}),
    ("backend_connections", "get", "/api/v1/connections?tag.organizationId=acme", None),
]


def _call(session, route):
    _, method, path, body = route
    return session.request(method, path, json=body)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r[0])
def test_a_backend_token_is_accepted(backend, route):
    reply = _call(backend(), route)
    # Alice has no connection: the backend got past authentication to the route's own answer.
    assert (reply.status_code, reply.json()["error"]["code"] if reply.status_code != 200 else None) in (
        (404, "not_connected"),
        (200, None),
    ), reply.text


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r[0])
@pytest.mark.parametrize("aud", [None, BACKEND_AUDIENCE], ids=["firebase audience", "backend audience"])
def test_an_end_users_token_is_refused_on_every_backend_route(user, api, id_token, route, aud):
    session = user("alice")
    if aud:  # a Firebase token minted for the backend's audience: still Firebase's issuer
        session.headers["Authorization"] = f"Bearer {id_token('alice', aud=aud)}"
    reply = _call(session, route)
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_token", reply.text


@pytest.mark.parametrize(
    "claims, status, code",
    [
        ({"aud": "https://another-gateway.example.test"}, 401, "invalid_token"),
        ({"iss": "https://securetoken.google.com/demo-gateway"}, 401, "invalid_token"),
        ({"email_verified": "false"}, 401, "invalid_token"),
        ({"email": "intruder@acme-app.iam.gserviceaccount.com"}, 403, "backend_not_allowed"),
    ],
    ids=["wrong audience", "not Google's issuer", "unverified email", "unlisted account"],
)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r[0])
def test_tokens_that_are_not_the_backends_are_refused(backend, route, claims, status, code):
    reply = _call(backend(**claims), route)
    assert reply.status_code == status and reply.json()["error"]["code"] == code, reply.text


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r[0])
def test_no_token_is_missing_one(api, route):
    reply = _call(api, route)
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "missing_token"


@pytest.mark.parametrize("aud", [BACKEND_AUDIENCE, "demo-gateway"], ids=["backend audience", "firebase audience"])
def test_a_backend_token_never_signs_in_an_end_user(api, backend, aud):
    for path in ("/api/v1/me", "/api/v1/oauth/connections", "/api/v1/me/export"):
        reply = backend(aud=aud).get(path)
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_token", (path, reply.text)


@pytest.fixture
def unconfigured(monkeypatch, stack):
    """A function whose backend settings are empty, driven in-process."""
    monkeypatch.delenv("APP_BACKEND_AUDIENCE")
    monkeypatch.delenv("APP_BACKEND_SERVICE_ACCOUNTS")
    reset_settings()
    reset_configuration_check()
    yield
    monkeypatch.undo()
    reset_settings()
    reset_configuration_check()


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r[0])
def test_without_the_settings_every_backend_route_answers_503(unconfigured, sandbox, route):
    name, method, path, body = route
    client = functions_framework.create_app(name, str(FUNCTIONS_DIR / name / "main.py")).test_client()
    reply = client.open(path, method=method.upper(), json=body, headers={"Authorization": f"Bearer {backend_token(sandbox)}"})
    assert reply.status_code == 503
    assert reply.get_json()["error"]["code"] == "backend_not_configured"


def test_the_two_settings_go_together_and_name_service_accounts():
    with pytest.raises(ConfigError, match="set together"):
        load_settings({"APP_BACKEND_AUDIENCE": BACKEND_AUDIENCE})
    with pytest.raises(ConfigError, match="APP_BACKEND_SERVICE_ACCOUNTS must be service account emails"):
        load_settings({"APP_BACKEND_AUDIENCE": BACKEND_AUDIENCE, "APP_BACKEND_SERVICE_ACCOUNTS": "someone@gmail.com"})
    settings = load_settings({"APP_BACKEND_AUDIENCE": BACKEND_AUDIENCE, "APP_BACKEND_SERVICE_ACCOUNTS": BACKEND_ACCOUNT})
    assert settings.app_backend_service_accounts == (BACKEND_ACCOUNT,)
