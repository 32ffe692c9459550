"""Cloud Build smoke-tests what it has just applied, with secrets from Secret Manager only."""

import yaml

from local.catalog import ROOT

BUILD = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def test_the_smoke_test_runs_right_after_apply_with_the_secrets_from_secret_manager():
    ids = [step["id"] for step in BUILD["steps"]]
    assert ids.index("smoke") == ids.index("terraform-apply") + 1
    smoke = BUILD["steps"][ids.index("smoke")]
    assert "python -m local.smoke" in smoke["args"][-1] and "/workspace/public_url" in smoke["args"][-1]
    assert "terraform output -raw public_url > /workspace/public_url" in BUILD["steps"][ids.index("terraform-apply")]["args"][-1]
    secrets = {entry["env"]: entry["versionName"] for entry in BUILD["availableSecrets"]["secretManager"]}
    assert set(smoke["secretEnv"]) == set(secrets)
    # The signing secret is the one Terraform declares for SLACK_SIGNING_SECRET (infra/main.tf: lower, hyphens).
    assert secrets["SLACK_SIGNING_SECRET"] == "projects/${PROJECT_ID}/secrets/slack-signing-secret/versions/latest"
    assert not any("SECRET" in item or "PASSWORD" in item for item in smoke.get("env", []))
