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
