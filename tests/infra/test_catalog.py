"""Terraform and the code stay in step: the function catalog matches the function folders, and
the Terraform files are formatted."""

import ast
import json
import pathlib
import re
import shutil
import subprocess

import pytest

from local.catalog import FUNCTIONS_DIR, ROOT, consumers, load_catalog, load_topics

CATALOG = load_catalog()
FOLDERS = sorted(p.name for p in FUNCTIONS_DIR.iterdir() if (p / "main.py").is_file())


def test_every_function_folder_is_deployed_and_nothing_else():
    assert sorted(CATALOG) == FOLDERS


@pytest.mark.parametrize("name", FOLDERS)
def test_entry_point_is_a_decorated_function_of_main(name):
    tree = ast.parse((FUNCTIONS_DIR / name / "main.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    entry = functions.get(CATALOG[name]["entry_point"])
    assert entry is not None, f"{name}: no function {CATALOG[name]['entry_point']} in main.py"
    decorators = [ast.unparse(d) for d in entry.decorator_list]
    assert decorators and decorators[0] in ("functions_framework.http", "functions_framework.cloud_event")
    assert ("pubsub" in CATALOG[name]) == (decorators[0] == "functions_framework.cloud_event")


def test_entry_points_are_unique():
    # functions-framework registers functions by name: two alike would clash in the local host.
    entries = [spec["entry_point"] for spec in CATALOG.values()]
    assert len(entries) == len(set(entries))


def test_routes_are_public_api_paths_and_unique():
    seen = set()
    for spec in CATALOG.values():
        for route in spec.get("http", {}).get("routes", []):
            assert route["path"].startswith("/api/v1/")
            for method in route["methods"]:
                assert (route["path"], method) not in seen
                seen.add((route["path"], method))


def test_every_topic_used_is_declared():
    topics = set(load_topics())
    for name, spec in CATALOG.items():
        used = set(spec.get("topic_roles", {})) | set(spec.get("publishes", []))
        assert used <= topics, f"{name} uses undeclared topics {used - topics}"
    assert set(consumers(CATALOG).values()) <= topics


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_is_formatted():
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff"], cwd=ROOT / "infra", capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_topic_the_code_names_is_declared():
    from common.platform.settings import SETTINGS

    named = {s.default for s in SETTINGS if s.name.startswith("TOPIC_")}
    assert named <= set(load_topics()), named - set(load_topics())


COLLECTION_GROUP_QUERY = re.compile(r"collection_group\((?P<collection>[\w.]+)\)")


def test_every_collection_group_query_has_an_index_declared():
    """Collection-group queries need an index of collection-group scope (single-field ones included)."""
    import common.access.connection_tags
    import common.stores.sync_state
    import common.sync.watches
    import common.tokens.reencrypt
    import common.tokens.refresh_job

    terraform = (ROOT / "infra" / "firestore.tf").read_text()
    constants = {
        "CONNECTIONS": "connections",
        "connections.CONNECTIONS": "connections",
        "sync_state.SYNC_STATE": common.stores.sync_state.SYNC_STATE,
    }
    found = set()
    for module in (common.tokens.refresh_job, common.tokens.reencrypt, common.sync.watches, common.access.connection_tags):
        for match in COLLECTION_GROUP_QUERY.finditer(pathlib.Path(module.__file__).read_text()):
            found.add(constants[match.group("collection")])
    assert found == {"connections", "sync_state"}
    for collection in found:
        block = re.search(r'collection\s*=\s*"' + collection + r'"(?P<rest>.*?)\n}', terraform, re.S)
        assert block and "COLLECTION_GROUP" in block.group("rest"), f"no collection-group index for {collection}"


SIZES = json.loads((ROOT / "infra" / "sizes.json").read_text())
WEBHOOK_ACKS = ("slack_events", "slack_interactions", "calendar_push")


def test_every_function_has_a_size_with_its_reason():
    for name, spec in CATALOG.items():
        assert spec.get("size") in SIZES, f"{name}: size {spec.get('size')!r} is not in sizes.json"
    for size, figures in SIZES.items():
        assert figures["why"] and {"memory", "cpu", "concurrency", "min_instances"} <= set(figures), size


def test_concurrency_above_one_has_a_whole_vcpu():
    # Cloud Functions refuses a concurrency above 1 below 1 vCPU
    # (https://cloud.google.com/functions/docs/configuring/concurrency).
    for size, figures in SIZES.items():
        if figures["concurrency"] > 1:
            assert float(figures["cpu"]) >= 1, size


def test_webhook_acknowledgements_stay_warm_and_jobs_run_alone():
    for name in WEBHOOK_ACKS:
        assert SIZES[CATALOG[name]["size"]]["min_instances"] >= 1, name
    for name, spec in CATALOG.items():
        if "schedule" in spec or spec["size"] == "job":
            assert SIZES[spec["size"]]["concurrency"] == 1 and spec["max_instances"] == 1, name
