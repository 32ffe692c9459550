"""The user's token behind API Gateway: the gateway puts its own Google-signed token in Authorization
and moves the caller's to X-Forwarded-Authorization. Functions are driven in-process here, with the
headers the gateway sends, so each rule is checked on its own; the whole suite runs through the local
gateway emulation as well (local/gateway_front.py)."""

import functions_framework
import pytest

from common.platform.settings import SETTINGS, reset_settings
from common.serving.config_check import configuration_problems, reset_configuration_check
from local.catalog import FUNCTIONS_DIR

GATEWAY = "api-gateway@acme-gateway.iam.gserviceaccount.com"
FUNCTION_URL = "https://me-4kq2x7aboa-ew.a.run.app"


@pytest.fixture
def me():
    return functions_framework.create_app("me", str(FUNCTIONS_DIR / "me" / "main.py")).test_client()


@pytest.fixture
def behind_gateway(monkeypatch, stack):
    """Settings of a deployed function: the gateway's account, Google's certificates (the sandbox's here)."""
    monkeypatch.setenv("GATEWAY_SERVICE_ACCOUNT", GATEWAY)
    monkeypatch.setenv("GATEWAY_AUDIENCE", FUNCTION_URL)
    monkeypatch.setenv("GOOGLE_OIDC_CERTS_URL", f"{stack.sandbox_url}/identity/certs")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def gateway_token(sandbox):
    """The Google-signed ID token API Gateway sends in Authorization (audience: the backend's https origin)."""

    def mint(aud: str = FUNCTION_URL, email: str = GATEWAY, **claims) -> str:
        return sandbox.get("/identity/google-oidc", params={"aud": aud, "email": email, **claims}).json()["token"]

    return mint


def _call(client, headers: dict):
    return client.get("/api/v1/me", headers=headers, base_url=FUNCTION_URL)


def test_the_user_behind_the_gateway_is_signed_in(me, behind_gateway, gateway_token, id_token):
    reply = _call(me, {"Authorization": f"Bearer {gateway_token()}", "X-Forwarded-Authorization": f"Bearer {id_token('alice')}"})
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["data"]["uid"] == "alice"


@pytest.mark.parametrize(
    "case",
    ["user token in Authorization", "no gateway token", "another account", "another audience", "bad signature"],
)
def test_requests_that_went_around_the_gateway_are_refused(me, behind_gateway, gateway_token, id_token, case):
    user = f"Bearer {id_token('alice')}"
    authorization = {
        "user token in Authorization": user,
        "no gateway token": None,
        "another account": f"Bearer {gateway_token(email='intruder@acme-gateway.iam.gserviceaccount.com')}",
        "another audience": f"Bearer {gateway_token(aud='https://oauth-start-4kq2x7aboa-ew.a.run.app')}",
        "bad signature": f"Bearer {gateway_token()[:-4]}AAAA",
    }[case]
    headers = {"X-Forwarded-Authorization": user, **({"Authorization": authorization} if authorization else {})}
    reply = _call(me, headers)
    assert reply.status_code == 401
    assert reply.get_json()["error"] == {"code": "invalid_token", "message": "The request did not come through the API gateway"}


def test_behind_the_gateway_a_request_without_a_user_token_is_missing_one(me, behind_gateway, gateway_token):
    reply = _call(me, {"Authorization": f"Bearer {gateway_token()}"})
    assert reply.status_code == 401 and reply.get_json()["error"]["code"] == "missing_token"


@pytest.fixture
def without_gateway(monkeypatch, stack):
    """make dev: no gateway in front, so no GATEWAY_SERVICE_ACCOUNT."""
    monkeypatch.delenv("GATEWAY_SERVICE_ACCOUNT", raising=False)
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def test_without_a_gateway_the_user_token_is_read_from_authorization(me, without_gateway, id_token):
    reply = _call(me, {"Authorization": f"Bearer {id_token('alice')}"})
    assert reply.status_code == 200 and reply.get_json()["data"]["uid"] == "alice"


@pytest.mark.parametrize("with_authorization", [False, True])
def test_without_a_gateway_a_forwarded_token_is_refused(me, without_gateway, id_token, with_authorization):
    headers = {"X-Forwarded-Authorization": f"Bearer {id_token('mallory')}"}
    if with_authorization:
        headers["Authorization"] = f"Bearer {id_token('alice')}"
    reply = _call(me, headers)
    assert reply.status_code == 401
    assert reply.get_json()["error"] == {
        "code": "invalid_token",
        "message": "X-Forwarded-Authorization is accepted only from the API gateway",
    }


@pytest.mark.parametrize("gateway", ["", GATEWAY])
def test_production_http_functions_without_the_gateway_account_answer_configuration_invalid(monkeypatch, gateway):
    """The missing pair is one of the configuration's listed problems: the function starts, every
    request answers 503 `configuration_invalid`, and the preflight names both settings."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("GCP_PROJECT", "acme-gateway")
    monkeypatch.setenv("GATEWAY_SERVICE_ACCOUNT", gateway)
    reset_settings()
    reset_configuration_check()
    try:
        problems = configuration_problems(role="http")
        assert ("GATEWAY_SERVICE_ACCOUNT must be set in production for http functions" in problems) == (not gateway)
        assert "GATEWAY_AUDIENCE must be set in production for http functions" in problems
        reply = functions_framework.create_app("me", str(FUNCTIONS_DIR / "me" / "main.py")).test_client().get("/")
        assert (reply.status_code, reply.get_json()["error"]["code"]) == (503, "configuration_invalid")
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_configuration_check()
