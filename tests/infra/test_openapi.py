"""The OpenAPI document (the API's reference and the front door's configuration) matches the
function catalog: every path reaches a deployed HTTP function, every HTTP function has its paths."""

import json
import re

import pytest

from local.catalog import ROOT, load_catalog

DOCUMENT = json.loads((ROOT / "infra" / "openapi.json").read_text())
CATALOG = load_catalog()
CATALOG_ROUTES = {
    (route["path"], method.lower()): name
    for name, spec in CATALOG.items()
    for route in spec.get("http", {}).get("routes", [])
    for method in route["methods"]
}
OPERATIONS = {(path, method): operation for path, item in DOCUMENT["paths"].items() for method, operation in item.items()}


def test_every_operation_reaches_the_function_that_serves_it():
    assert set(OPERATIONS) == set(CATALOG_ROUTES)
    for key, operation in OPERATIONS.items():
        assert operation["x-google-backend"]["address"] == "${urls." + CATALOG_ROUTES[key] + "}", key
        assert operation["x-google-backend"]["path_translation"] == "APPEND_PATH_TO_ADDRESS"


@pytest.mark.parametrize("key", sorted(OPERATIONS), ids=lambda k: f"{k[1]} {k[0]}")
def test_operations_declare_their_parameters_and_error_envelope(key):
    path, _ = key
    operation = OPERATIONS[key]
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    assert declared == set(re.findall(r"\{(\w+)(?:=\*\*)?\}", path))
    errors = [r for status, r in operation["responses"].items() if status.startswith(("4", "5"))]
    assert errors and all(r.get("schema") == {"$ref": "#/definitions/ErrorEnvelope"} for r in errors)
    assert operation.get("operationId") and operation.get("summary")


def test_user_endpoints_require_the_firebase_token_backend_ones_the_backends_and_webhooks_neither():
    for (path, _), operation in OPERATIONS.items():
        user_endpoint = (
            path.startswith("/api/v1/oauth/")
            and not path.endswith("/callback")
            or path.startswith("/api/v1/proxy/")
            or path in ("/api/v1/me", "/api/v1/me/export", "/api/v1/flags")
        )
        backend_endpoint = path.startswith("/api/v1/users/") or path == "/api/v1/connections"
        expected = [{"firebase": []}] if user_endpoint else [{"app_backend": []}] if backend_endpoint else None
        assert operation.get("security") == expected, path


def test_the_backends_token_is_a_google_id_token_for_its_audience():
    """The gateway checks it as Google documents for service accounts' ID tokens; the code checks the
    account (common/access/backend_auth.py), since any Google account can mint a token for any audience."""
    assert DOCUMENT["securityDefinitions"]["app_backend"] == {
        "authorizationUrl": "",
        "flow": "implicit",
        "type": "oauth2",
        "x-google-issuer": "https://accounts.google.com",
        "x-google-jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
        "x-google-audiences": "${app_backend_audience}",
    }


def test_cors_preflights_pass_the_gateway():
    assert DOCUMENT["x-google-endpoints"] == [{"name": "${managed_service}", "allowCors": True}]


def test_the_proxy_forwards_its_whole_path():
    """API Gateway's {var=**} matches any number of segments, and APPEND_PATH_TO_ADDRESS hands the
    function the request's whole path (docs/proxy.md cites both)."""
    path = "/api/v1/proxy/{service}/{path=**}"
    methods = {method for p, method in OPERATIONS if p.startswith("/api/v1/proxy/")}
    assert methods == {m.lower() for m in CATALOG["proxy"]["http"]["routes"][0]["methods"]}
    assert all(OPERATIONS[path, method]["x-google-backend"]["address"] == "${urls.proxy}" for method in methods)


def _service_parameters(node):
    if isinstance(node, dict):
        if node.get("name") == "service" and node.get("in") == "path":
            yield node
        for value in node.values():
            yield from _service_parameters(value)
    elif isinstance(node, list):
        for value in node:
            yield from _service_parameters(value)


def test_every_service_parameter_lists_the_catalogues_services():
    """The document names what the provider catalogue offers: a provider added to it is added here."""
    catalogued = list(json.loads((ROOT / "common" / "providers" / "catalogue.json").read_text())["services"])
    parameters = list(_service_parameters(DOCUMENT["paths"]))
    assert len(parameters) >= 10
    for parameter in parameters:
        assert parameter["enum"] == catalogued
    assert "revokeNote" in DOCUMENT["definitions"]["Disconnected"]["properties"]
