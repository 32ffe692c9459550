"""The local function host routes public paths to functions and answers the rest in the envelope."""


def test_unknown_path_is_a_404_envelope(api):
    reply = api.get("/api/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.json() == {"success": False, "error": {"code": "not_found", "message": "No function answers at this path"}}


def test_wrong_method_is_a_405_envelope(api):
    reply = api.post("/api/v1/health", data="{}")
    assert reply.status_code == 405 and reply.json()["error"]["code"] == "method_not_allowed"


def test_trailing_slash_reaches_the_function(api):
    assert api.get("/api/v1/health/").status_code == 200


def test_the_apps_origin_gets_credentialed_cors(api, id_token):
    preflight = api.options(
        "/api/v1/oauth/slack/start",
        headers={
            "Origin": "https://app.example.test",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.test"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert (
        "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
        and "GET" in preflight.headers["Access-Control-Allow-Methods"]
    )
    reply = api.get("/api/v1/me", headers={"Origin": "https://app.example.test", "Authorization": f"Bearer {id_token('alice')}"})
    assert reply.headers["Access-Control-Allow-Origin"] == "https://app.example.test"


def test_other_origins_get_no_cors(api):
    preflight = api.options(
        "/api/v1/oauth/slack/start", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in api.get("/api/v1/health", headers={"Origin": "https://evil.example"}).headers
