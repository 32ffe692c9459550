"""What a first `apply` on an empty project needs beyond a valid schema: the Firestore database
before its indexes, every API the resources (and the OAuth client's users) call, the Pub/Sub
service agent before it is granted anything, and no reference cycle (one apply is enough)."""

import json
import re

import hcl2

from local.catalog import ROOT, load_catalog
from local.tf_check import reference_cycles

INFRA = ROOT / "infra"
PARSED = {path.name: hcl2.loads(path.read_text()) for path in sorted(INFRA.glob("*.tf"))}
CATALOG = load_catalog()


def _resources() -> dict[str, dict]:
    return {
        f"{rtype.strip(chr(34))}.{name.strip(chr(34))}": body
        for parsed in PARSED.values()
        for block in parsed.get("resource", [])
        for rtype, named in block.items()
        for name, body in named.items()
    }


RESOURCES = _resources()

# The API each resource type (by prefix) calls, from Google's API names; the project-level IAM
# resources and google_project read and write the project through Cloud Resource Manager.
API_OF_PREFIX = {
    "google_api_gateway_": {"apigateway.googleapis.com", "servicemanagement.googleapis.com", "servicecontrol.googleapis.com"},
    "google_bigquery_": {"bigquery.googleapis.com"},
    "google_cloud_run_": {"run.googleapis.com"},
    "google_cloud_scheduler_": {"cloudscheduler.googleapis.com"},
    "google_cloudfunctions2_": {
        "cloudfunctions.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "run.googleapis.com",
    },
    "google_firebaserules_": {"firebaserules.googleapis.com"},
    "google_firestore_": {"firestore.googleapis.com"},
    "google_logging_": {"logging.googleapis.com"},
    "google_monitoring_": {"monitoring.googleapis.com"},
    "google_project_iam_": {"cloudresourcemanager.googleapis.com"},
    "google_project_service_identity": {"serviceusage.googleapis.com"},
    "google_pubsub_": {"pubsub.googleapis.com"},
    "google_secret_manager_": {"secretmanager.googleapis.com"},
    "google_service_account": {"iam.googleapis.com"},
    "google_storage_": {"storage.googleapis.com"},
    "time_": set(),  # waits locally
}
# The APIs the users' tokens call (functions.json "services"), enabled on the OAuth client's project.
API_OF_SERVICE = {"gmail": "gmail.googleapis.com", "calendar": "calendar-json.googleapis.com"}


def _enabled_apis() -> set[str]:
    text = (INFRA / "apis.tf").read_text()
    return set(re.findall(r'"([a-z0-9-]+\.googleapis\.com)"', text))


def test_every_api_the_resources_and_the_users_tokens_call_is_enabled():
    needed = set()
    for address in RESOURCES:
        rtype = address.split(".")[0]
        if rtype == "google_project_service":
            continue
        matches = [apis for prefix, apis in API_OF_PREFIX.items() if rtype.startswith(prefix)]
        assert matches, f"{rtype}: which API does it call? Add it to API_OF_PREFIX"
        needed |= set().union(*matches)
    needed |= {API_OF_SERVICE[service] for spec in CATALOG.values() for service in spec.get("services", [])}
    assert needed - _enabled_apis() == set(), "not enabled in apis.tf: " + ", ".join(sorted(needed - _enabled_apis()))


def test_the_firestore_database_is_declared_before_its_indexes_and_ttl_policies():
    database = RESOURCES["google_firestore_database.default"]
    assert database["name"] == '"(default)"' and database["type"] == '"FIRESTORE_NATIVE"'
    assert database["deletion_policy"] == '"ABANDON"', "destroying the stack must never delete the users' data"
    for address, body in RESOURCES.items():
        if address.startswith(("google_firestore_index.", "google_firestore_field.")):
            assert body["database"] == "${google_firestore_database.default.name}", address


def test_the_pubsub_service_agent_exists_before_it_is_granted_anything():
    identity = RESOURCES["google_project_service_identity.pubsub"]
    assert identity["service"] == '"pubsub.googleapis.com"' and identity["provider"] == "google-beta"
    (agent,) = [b["pubsub_agent"] for parsed in PARSED.values() for b in parsed.get("locals", []) if "pubsub_agent" in b]
    assert agent == '"serviceAccount:${google_project_service_identity.pubsub.email}"'


def test_one_apply_is_enough_no_reference_cycle():
    assert reference_cycles(INFRA) == []


def test_a_reference_cycle_is_caught(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "google_pubsub_topic" "a" {\n  name = google_pubsub_topic.b.name\n}\n'
        "locals {\n  via = google_pubsub_topic.a.id\n}\n"
        'resource "google_pubsub_topic" "b" {\n  name = local.via\n}\n'
    )
    assert reference_cycles(tmp_path) == [["google_pubsub_topic.a", "google_pubsub_topic.b", "local.via"]]


def test_the_public_base_url_is_the_gateway_unless_a_custom_domain_is_given():
    (locals_block,) = [b for b in PARSED["gateway.tf"].get("locals", []) if "public_base_url" in b]
    assert (
        locals_block["public_base_url"]
        == '${coalesce(var.public_base_url, "https://${google_api_gateway_gateway.api.default_hostname}")}'
    )
    assert json.dumps(PARSED["gateway.tf"]).count("google_cloudfunctions2_function") == 0, (
        "the gateway must not wait for the functions"
    )


def test_the_deployed_ruleset_is_the_file_the_emulator_enforces_released_to_the_default_database():
    from local.emulators import RULES

    ruleset = RESOURCES["google_firebaserules_ruleset.firestore"]
    ((source,),) = [ruleset["source"]]
    assert [(f["name"], f["content"]) for f in source["files"]] == [
        ('"firestore.rules"', '${file("${path.module}/firestore.rules")}')
    ]
    assert RULES == INFRA / "firestore.rules"
    release = RESOURCES["google_firebaserules_release.firestore"]
    assert release["name"] == '"cloud.firestore"'
    assert release["ruleset_name"] == "${google_firebaserules_ruleset.firestore.name}"
    assert release["lifecycle"][0]["replace_triggered_by"] == ["${google_firebaserules_ruleset.firestore}"]
    assert "${google_firestore_database.default}" in ruleset["depends_on"], "rules for a database that exists"
