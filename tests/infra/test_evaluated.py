"""infra/'s variables, locals and API document evaluated by Terraform itself (local/tf_eval.py):
the settings every function gets are ones production accepts, the inputs production would refuse
are refused at plan time, and the API document Terraform renders is valid and reaches every function."""

import json
import re

import hcl2
import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import SWAGGER_20

from common.platform.clients import GRPC_ENVIRONMENT
from common.platform.settings import SETTINGS, load_settings
from common.providers.catalogue import BUILT_IN
from local.catalog import ROOT, load_catalog
from local.tf_eval import EvaluationError, evaluate

INFRA = ROOT / "infra"
CATALOG = load_catalog()
VALID = {
    "project_id": "acme-gateway-prod",
    "environment": "prod",
    "slack_client_id": "1234567890.9876543210",
    "google_client_id": "123456789012-abc123def456.apps.googleusercontent.com",
    "oauth_success_url": "https://app.example.com/connected",
    "oauth_failure_url": "https://app.example.com/connect-failed",
    "cors_allowed_origins": ["https://app.example.com"],
}
VALID_FAMILIES = ("slack", "google")  # the families VALID gives a client id (their own variables)
PROVIDERS = json.loads(BUILT_IN.read_text())
GATEWAY_URL = "https://oauth-webhook-gateway-1a2b3c4d.ew.gateway.dev"
MANAGED_SERVICE = "oauth-webhook-gateway-1a2b3c4d.apigateway.acme-gateway-prod.cloud.goog"


def _parsed(name: str) -> dict:
    return hcl2.loads((INFRA / name).read_text())


def _function_block() -> dict:
    (block,) = [b for b in _parsed("functions.tf")["resource"] if '"google_cloudfunctions2_function"' in b]
    return block['"google_cloudfunctions2_function"']['"fn"']


def test_every_function_gets_every_setting_production_requires():
    """What a function would read at start: Terraform's environment, the public base URL wired in
    functions.tf, and the secrets it may read, parsed by common/platform/settings.py as production does."""
    environments = evaluate({"env": "local.environment"}, VALID)["env"]
    (service_config,) = _function_block()["service_config"]
    assert (
        service_config["environment_variables"]
        == "${merge(local.environment[each.key], {PUBLIC_BASE_URL = local.public_base_url})}"
    )
    families = PROVIDERS["families"]
    offered_only = {family["client"]["id_setting"] for name, family in families.items() if name not in VALID_FAMILIES}
    required = {s.name for s in SETTINGS if s.dev_only_default and not s.secret} - offered_only
    for name, environment in environments.items():
        environment = {**environment, "PUBLIC_BASE_URL": GATEWAY_URL}
        missing = sorted(setting for setting in required if not environment.get(setting))
        assert not missing, f"{name} starts without {missing}: production refuses their dev defaults"
        settings = load_settings(environment)
        assert settings.production and settings.public_base_url == GATEWAY_URL


def test_a_family_is_offered_exactly_where_its_client_id_is_given():
    """The catalogue's families beyond Slack and Google: unset, nothing of theirs is deployed; given,
    every function gets the client id and the token-using functions the client secret."""
    expressions = {"env": "local.environment", "secrets": "local.secret_settings", "grants": "keys(local.secret_grants)"}
    without = evaluate(expressions, VALID)
    assert not any("ASANA" in name for name in [*without["secrets"], *without["env"]["proxy"]])
    given = evaluate(expressions, {**VALID, "provider_client_ids": {"asana": "1204567890123456"}})
    assert all(environment["ASANA_CLIENT_ID"] == "1204567890123456" for environment in given["env"].values())
    assert "ASANA_CLIENT_SECRET" in given["secrets"]
    granted = {grant.split("/")[0] for grant in given["grants"] if grant.endswith("/ASANA_CLIENT_SECRET")}
    assert granted == {name for name, spec in CATALOG.items() if "*" in spec.get("provider_clients", [])}
    assert given["env"]["proxy"]["ASANA_CLIENT_SECRET"].endswith("/secrets/asana-client-secret/versions/latest")
    assert load_settings({**given["env"]["proxy"], "PUBLIC_BASE_URL": GATEWAY_URL}).production


@pytest.mark.parametrize("clients", [{"trello": "1"}, {"slack": "1.2"}, {"notion": " "}])
def test_plan_refuses_a_client_id_of_no_other_catalogue_family(clients):
    with pytest.raises(EvaluationError, match="provider_client_ids"):
        evaluate({"env": "local.environment"}, {**VALID, "provider_client_ids": clients})


def test_every_function_gets_the_grpc_environment_the_local_stack_runs_with():
    """grpc reads it at import, before any of our code runs, so only the environment can set it."""
    for name, environment in evaluate({"env": "local.environment"}, VALID)["env"].items():
        assert {key: environment.get(key) for key in GRPC_ENVIRONMENT} == GRPC_ENVIRONMENT, name


REFUSED = {
    "slack_client_id": "dev-slack-client-id",
    "google_client_id": "dev-google-client-id.apps.googleusercontent.com",
    "oauth_success_url": "http://app.example.com/connected",
    "oauth_failure_url": "https://",
    "cors_allowed_origins": ["http://app.example.com"],
    "oauth_return_allowlist": ["http://app.example.com/return"],
    "public_base_url": "http://api.example.com",
}


def test_plan_refuses_every_input_production_would_refuse():
    with pytest.raises(EvaluationError) as refused:
        evaluate({"env": "local.environment"}, {**VALID, **REFUSED})
    for variable in REFUSED:
        assert f"var.{variable}" in str(refused.value), f"{variable} = {REFUSED[variable]!r} is not refused at plan time"


def test_plan_refuses_settings_production_refuses_in_extra_environment():
    from common.platform.settings import PROVIDER_URL_SETTINGS

    extra = {
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        "SECRET_MANAGER_ENDPOINT": "127.0.0.1:9000",
        "FIREBASE_CERTS_URL": "http://127.0.0.1:9000/certs",
        "GOOGLE_OIDC_CERTS_URL": "http://127.0.0.1:9000/oidc",
        **{name: "http://127.0.0.1:9000" for name in PROVIDER_URL_SETTINGS},
        "SLACK_CLIENT_ID": "1234567890.1",
    }
    with pytest.raises(EvaluationError) as refused:
        evaluate({"env": "local.environment"}, {**VALID, "extra_environment": extra})
    message = re.sub(r"\s+", " ", str(refused.value))
    for name in extra:
        assert name in message, f"extra_environment {name} = {extra[name]!r} is not refused at plan time"


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_each_stage_names_every_production_input(stage):
    """A stage's tfvars sets every required input; until a deployer fills them in, plan says which."""
    path = INFRA / "env" / f"{stage}.tfvars"
    tfvars = hcl2.loads(path.read_text())
    assert set(VALID) - {"project_id"} <= set(tfvars), set(VALID) - {"project_id"} - set(tfvars)
    with pytest.raises(EvaluationError) as refused:
        evaluate({"env": "local.environment"}, {"project_id": VALID["project_id"]}, var_file=path)
    unset = {name for name, value in tfvars.items() if value == '""'}
    assert unset and all(f"var.{name} must be" in str(refused.value) for name in unset)
    filled = {name: VALID[name] for name in unset}
    assert evaluate({"env": "local.environment"}, {"project_id": VALID["project_id"], **filled}, var_file=path)["env"]


def _rendered() -> tuple[dict, dict]:
    (api_config,) = [b for b in _parsed("gateway.tf")["resource"] if '"google_api_gateway_api_config"' in b]
    document = api_config['"google_api_gateway_api_config"']['"api"']["openapi_documents"][0]["document"][0]
    assert (
        "merge(local.api_document_vars, {managed_service = google_api_gateway_api.api.managed_service})" in document["contents"]
    )
    values = evaluate(
        {
            "document": 'templatefile("${path.module}/openapi.json", '
            f'merge(local.api_document_vars, {{managed_service = "{MANAGED_SERVICE}"}}))',
            "urls": "local.function_urls",
        },
        VALID,
    )
    return json.loads(values["document"]), values["urls"]


def test_the_rendered_api_document_is_valid_swagger_and_reaches_every_http_function():
    document, urls = _rendered()
    # Formats unchecked: Google's Firebase security definition has authorizationUrl "" (not a URI).
    validator = jsonschema_rs.Draft4Validator(SWAGGER_20, validate_formats=False)
    errors = [error.message for error in validator.iter_errors(document)]
    assert not errors, errors
    assert not re.search(r"[$%]\{", json.dumps(document)), "a template expression was left unrendered"
    assert document["x-google-endpoints"][0]["name"] == MANAGED_SERVICE
    assert document["securityDefinitions"]["firebase"]["x-google-audiences"] == VALID["project_id"]
    addresses = {op["x-google-backend"]["address"] for item in document["paths"].values() for op in item.values()}
    http = {name for name, spec in CATALOG.items() if "http" in spec}
    assert set(urls) == http
    for name in http:
        slug = name.replace("_", "-")
        assert urls[name] == f"https://europe-west1-{VALID['project_id']}.cloudfunctions.net/{slug}"
    assert addresses == set(urls.values())
    definitions = set(document["definitions"])
    refs = set(re.findall(r'"\$ref": "#/definitions/(\w+)"', json.dumps(document)))
    assert refs <= definitions, refs - definitions


def test_each_deployed_function_url_is_the_one_the_gateway_was_given():
    """The gateway is configured before the functions exist (so they can be given its hostname in one
    apply); a postcondition stops the apply if Google's URL for a function is not the predicted one."""
    (lifecycle,) = _function_block()["lifecycle"]
    conditions = [c["condition"] for c in lifecycle["postcondition"]]
    assert "${local.predicted_urls[each.key] == self.url}" in conditions


def test_each_function_is_sized_from_sizes_json_and_serves_its_concurrency():
    sizes = json.loads((INFRA / "sizes.json").read_text())
    warm = evaluate({"fns": "local.functions", "env": "local.environment"}, VALID)
    cold = evaluate({"fns": "local.functions"}, {**VALID, "keep_warm": False})["fns"]
    for name, spec in CATALOG.items():
        size, deployed = sizes[spec["size"]], warm["fns"][name]
        assert (deployed["cpu"], deployed["memory"], deployed["concurrency"]) == (
            size["cpu"],
            size["memory"],
            size["concurrency"],
        )
        assert deployed["min_instances"] == size["min_instances"] and cold[name]["min_instances"] == 0
        assert warm["env"][name]["THREADS"] == str(size["concurrency"]), name
    assert {name for name, fn in warm["fns"].items() if fn["min_instances"]} == {
        "slack_events",
        "slack_interactions",
        "calendar_push",
    }


def test_the_webhook_delivery_consumer_gets_its_settings_secret_subscription_and_dead_letter():
    """app_webhooks_worker is an event consumer of connection-events, so pubsub.tf gives it the
    consumers' push subscription (retry policy, dead letter `<name>-dead-letter` and its store); it
    may read APP_WEBHOOK_SECRET only, and starts with the webhook settings of the variables, which
    production parses."""
    inputs = {
        **VALID,
        "app_webhook_url": "https://app.example.com/gateway-webhooks",
        "app_webhook_event_types": ["connection.needs_reauth", "gmail.messages_stored"],
        "app_webhook_timeout_seconds": 20,
    }
    found = evaluate(
        {
            "env": 'local.environment["app_webhooks_worker"]',
            "consumer": 'local.event_consumers["app_webhooks_worker"].pubsub_topic',
            "name": 'local.event_consumers["app_webhooks_worker"].name',
            "grants": "keys(local.secret_grants)",
        },
        inputs,
    )
    assert found["consumer"] == "connection-events" and found["name"] == "app-webhooks-worker"
    assert [g for g in found["grants"] if g.startswith("app_webhooks_worker/")] == ["app_webhooks_worker/APP_WEBHOOK_SECRET"]
    assert found["env"]["APP_WEBHOOK_SECRET"].endswith("/secrets/app-webhook-secret/versions/latest")
    settings = load_settings({**found["env"], "PUBLIC_BASE_URL": GATEWAY_URL})
    assert settings.app_webhook_url == inputs["app_webhook_url"] and settings.app_webhook_timeout_seconds == 20
    assert settings.app_webhook_event_types == ("connection.needs_reauth", "gmail.messages_stored")
    with pytest.raises(EvaluationError) as refused:
        evaluate({"env": "local.environment"}, {**VALID, "app_webhook_url": "http://app.example.com/hooks"})
    assert "var.app_webhook_url" in str(refused.value)
