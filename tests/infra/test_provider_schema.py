"""The offline `terraform validate` (local/tf_check.py against the schemas of local/tf_schema.py):
infra/ passes it, the schemas are those of the provider versions infra/ pins and locks, and each kind
of broken block is caught."""

import re

import hcl2
import pytest

from local.catalog import ROOT
from local.tf_check import check_module, check_text
from local.tf_schema import BINDINGS, ensure_all

INFRA = ROOT / "infra"


@pytest.fixture(scope="module")
def schemas():
    return ensure_all()


def test_every_resource_and_data_block_of_infra_matches_the_provider_schema(schemas):
    problems = check_module(INFRA, schemas)
    assert not problems, "\n".join(map(str, problems))


def test_the_schemas_are_of_the_provider_versions_that_infra_pins_and_locks(schemas):
    (terraform,) = hcl2.loads((INFRA / "versions.tf").read_text())["terraform"]
    (required,) = terraform["required_providers"]
    lock = (INFRA / ".terraform.lock.hcl").read_text()
    locked = dict(re.findall(r'provider "registry\.terraform\.io/([\w-]+/[\w-]+)" \{\s*version\s*=\s*"([^"]+)"', lock))
    assert set(required) - {"__is_block__"} == set(BINDINGS)
    for name, binding in BINDINGS.items():
        assert required[name]["source"].strip('"') == binding.provider
        assert required[name]["version"].strip('"') == binding.version, f"{name} is not pinned to exactly {binding.version}"
        assert locked[binding.provider] == binding.version
        assert (schemas[name]["provider"], schemas[name]["version"]) == (binding.provider, binding.version)


def _problems(schemas, text: str) -> list[str]:
    return [f"{p.address} {p.path}: {p.message}" for p in check_text(text, "broken.tf", schemas)]


FUNCTION = """
resource "google_cloudfunctions2_function" "fn" {
  name     = "fn"
  location = "europe-west1"
  %s
}
"""


@pytest.mark.parametrize(
    "body, expected",
    [
        ('entry_point = "main"', "resource google_cloudfunctions2_function.fn entry_point: unsupported argument"),
        (
            'service_config = { available_memory = "256Mi" }',
            "resource google_cloudfunctions2_function.fn service_config: is a block: write `service_config { ... }`",
        ),
        ('labels {\n a = "b"\n }', "resource google_cloudfunctions2_function.fn labels: is an argument: write `labels = ...`"),
        (
            'service_config {\n ingress_settings = "ALLOW_NOTHING"\n }',
            "service_config.ingress_settings: 'ALLOW_NOTHING' is not one of ALLOW_ALL, ALLOW_INTERNAL_ONLY",
        ),
        (
            'service_config {\n ingress_settings = var.http ? "ALLOW_ALL" : "INTERNAL"\n }',
            "service_config.ingress_settings: 'INTERNAL' is not one of",
        ),
        ('service_config {\n max_instance_count = "many"\n }', "service_config.max_instance_count: is a number, given 'many'"),
        (
            'build_config {\n runtime = "python311"\n }\n build_config {\n runtime = "python312"\n }',
            "build_config: at most one build_config block is allowed, found 2",
        ),
        (
            'dynamic "event_trigger" {\n for_each = [1]\n content {\n retry_policy = "RETRY"\n }\n }',
            "event_trigger.retry_policy: 'RETRY' is not one of",
        ),
    ],
    ids=[
        "unknown-argument",
        "block-as-attribute",
        "attribute-as-block",
        "bad-enum",
        "bad-enum-branch",
        "bad-number",
        "single-block-twice",
        "dynamic-content",
    ],
)
def test_a_broken_function_block_is_caught(schemas, body, expected):
    problems = _problems(schemas, FUNCTION % body)
    assert any(expected in problem for problem in problems), problems


def test_a_missing_required_argument_or_block_is_caught(schemas):
    problems = _problems(schemas, 'resource "google_pubsub_subscription" "s" {\n name = "s"\n push_config {}\n}\n')
    assert "resource google_pubsub_subscription.s topic: missing required argument" in problems
    assert "resource google_pubsub_subscription.s push_config.push_endpoint: missing required argument" in problems
    problems = _problems(schemas, 'resource "google_firestore_index" "i" {\n collection = "c"\n}\n')
    assert "resource google_firestore_index.i fields: missing required block" in problems


def test_an_unknown_type_and_a_beta_only_type_on_the_ga_provider_are_caught(schemas):
    assert _problems(schemas, 'resource "google_cloudfunction3_function" "f" {}\n') == [
        "resource google_cloudfunction3_function.f : not a resource type of hashicorp/google 6.50.0"
    ]
    (beta,) = _problems(schemas, 'resource "google_project_service_identity" "pubsub" {\n service = "pubsub.googleapis.com"\n}\n')
    assert beta.endswith("it is in google-beta: set provider = google-beta")
    assert _problems(schemas, 'data "google_project" "p" {\n number = 1\n}\n') == [
        "data google_project.p number: unsupported argument"
    ]


def test_the_check_sees_every_block_of_infra(schemas):
    """Not vacuous: each resource of infra/ with one argument renamed is reported."""
    text = (INFRA / "pubsub.tf").read_text()
    broken = text.replace("ack_deadline_seconds", "ack_deadline_secs")
    problems = _problems(schemas, broken)
    assert len(problems) == text.count("ack_deadline_seconds") and all("did you mean ack_deadline_seconds" in p for p in problems)


def test_a_package_built_from_another_provider_version_is_refused():
    from local.tf_schema import SchemaError, compile_assembly

    readme = "# CDKTF prebuilt bindings for hashicorp/google provider version 6.49.0\n"
    with pytest.raises(SchemaError, match="not hashicorp/google 6.50.0"):
        compile_assembly({"types": {}}, readme, BINDINGS["google"])
