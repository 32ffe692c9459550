"""The HTTP wrapper, driven through a real functions-framework app."""

import json
import textwrap

import functions_framework
import pytest

SOURCE = """
import functions_framework
from common.platform.errors import RateLimited, NotFound
from common.serving.http import endpoint


@functions_framework.http
@endpoint("GET", "POST", max_body_bytes=100)
def probe(request):
    action = request.args.get("do")
    if action == "crash":
        raise RuntimeError("internal detail xoxb-1111-2222-leakedtoken /srv/app.py line 7")
    if action == "limit":
        raise RateLimited("Slow down", retry_after=2.4)
    if action == "missing":
        raise NotFound("No such connection", code="connection_not_found")
    if action == "json":
        return request.get_json()
    return {"echo": action}
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe_function")
    (folder / "main.py").write_text(textwrap.dedent(SOURCE))
    return functions_framework.create_app("probe", str(folder / "main.py")).test_client()


def body(reply) -> dict:
    assert reply.headers["Content-Type"] == "application/json"
    return json.loads(reply.data)


def test_success_envelope(client):
    reply = client.get("/?do=hello")
    assert reply.status_code == 200 and body(reply) == {"success": True, "data": {"echo": "hello"}}


def test_unexpected_exception_is_a_500_without_internals(client, capsys):
    reply = client.get("/?do=crash")
    assert reply.status_code == 500
    assert body(reply) == {"success": False, "error": {"code": "internal", "message": "Internal error"}}
    logged = capsys.readouterr().out
    assert "RuntimeError" in logged and "xoxb-1111-2222-leakedtoken" not in logged


def test_typed_errors_keep_status_code_and_retry_after(client):
    limited = client.get("/?do=limit")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert body(limited)["error"] == {"code": "rate_limited", "message": "Slow down"}
    missing = client.get("/?do=missing")
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "connection_not_found"


def test_wrong_method_and_oversized_body(client):
    assert client.delete("/").status_code == 405 and body(client.delete("/"))["error"]["code"] == "method_not_allowed"
    big = client.post("/?do=json", data="x" * 101, content_type="application/json")
    assert big.status_code == 413 and body(big)["error"]["code"] == "payload_too_large"


def test_malformed_json_is_a_400_envelope(client):
    reply = client.post("/?do=json", data="{not json", content_type="application/json")
    assert reply.status_code == 400 and body(reply)["success"] is False
