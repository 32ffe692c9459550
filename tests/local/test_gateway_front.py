"""The local gateway emulation does API Gateway's header swap, and the test stack runs behind it."""

from google.auth import jwt

from local.gateway_front import GatewayFront
from local.stack import GATEWAY_ACCOUNT


def test_the_front_moves_authorization_and_sends_the_gateways_own_token(stack):
    front = GatewayFront(stack.sandbox_url, GATEWAY_ACCOUNT, "https://europe-west1-acme.cloudfunctions.net")
    environ = {
        "HTTP_HOST": "me-4kq2x7aboa-ew.a.run.app",
        "wsgi.url_scheme": "https",
        "HTTP_AUTHORIZATION": "Bearer user-token",
        "HTTP_X_FORWARDED_AUTHORIZATION": "Bearer smuggled",
    }
    front.forward(environ)
    assert environ["HTTP_X_FORWARDED_AUTHORIZATION"] == "Bearer user-token"
    scheme, _, token = environ["HTTP_AUTHORIZATION"].partition(" ")
    claims = jwt.decode(token, verify=False)
    assert scheme == "Bearer" and claims["aud"] == "https://europe-west1-acme.cloudfunctions.net"  # configured, not the Host
    assert claims["email"] == GATEWAY_ACCOUNT and claims["iss"] == "https://accounts.google.com"
    front.forward(environ := {"HTTP_HOST": "me-4kq2x7aboa-ew.a.run.app", "wsgi.url_scheme": "https"})
    assert "HTTP_X_FORWARDED_AUTHORIZATION" not in environ
    assert environ["HTTP_AUTHORIZATION"] == f"Bearer {token}"  # reused until close to its expiry


def test_the_stack_serves_the_functions_behind_the_gateway(stack):
    assert stack.host_env["GATEWAY_SERVICE_ACCOUNT"] == GATEWAY_ACCOUNT
    assert stack.host_env["GATEWAY_AUDIENCE"] == stack.api_url.replace("http://", "https://")
    assert not stack.env.get("GATEWAY_SERVICE_ACCOUNT")  # in-process calls have no gateway in front


def test_a_clients_own_forwarded_header_never_reaches_the_function(api, id_token):
    alone = api.get("/api/v1/me", headers={"X-Forwarded-Authorization": f"Bearer {id_token('mallory')}"})
    assert alone.status_code == 401 and alone.json()["error"]["code"] == "missing_token"
    beside = api.get(
        "/api/v1/me",
        headers={"Authorization": f"Bearer {id_token('alice')}", "X-Forwarded-Authorization": f"Bearer {id_token('mallory')}"},
    )
    assert beside.status_code == 200 and beside.json()["data"]["uid"] == "alice"
