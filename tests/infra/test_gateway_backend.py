"""What the functions' user-token check relies on from the front door: every function knows the
gateway's account and the audience of its token, which is ESPv2's default for a backend (the https
origin of the address the gateway calls, the functions' predicted URLs)."""

import json
import re

import hcl2

from local.catalog import ROOT

INFRA = ROOT / "infra"


def _locals(name: str) -> dict:
    return {key: value for block in hcl2.loads((INFRA / name).read_text()).get("locals", []) for key, value in block.items()}


def test_every_function_is_told_the_gateways_account():
    main = _locals("main.tf")
    assert "GATEWAY_SERVICE_ACCOUNT = local.gateway_email" in main["base_environment"]
    assert re.search(r"GATEWAY_AUDIENCE\s*=\s*local\.backend_origin", main["base_environment"])
    account_id = re.search(
        r'resource "google_service_account" "gateway" \{\s*account_id\s*=\s*"([^"]+)"', (INFRA / "gateway.tf").read_text()
    )
    assert main["gateway_email"] == f'"{account_id.group(1)}@${{var.project_id}}.iam.gserviceaccount.com"'
    assert main["gateway_member"] == '"serviceAccount:${local.gateway_email}"'


def test_the_gateways_token_audience_is_the_origin_of_every_backend_address():
    main = _locals("main.tf")
    assert main["backend_origin"] == '"https://${var.region}-${var.project_id}.cloudfunctions.net"'
    assert "${local.backend_origin}/${fn.name}" in main["predicted_urls"]
    assert main["api_document_vars"]["urls"] == "${local.function_urls}"


def test_backend_authentication_keeps_its_default_audience():
    document = json.loads((INFRA / "openapi.json").read_text())
    backends = [op["x-google-backend"] for path in document["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert backends and all("disable_auth" not in b and "jwt_audience" not in b for b in backends)
