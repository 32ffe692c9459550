"""`make smoke` against the local stack, behind the gateway emulation: known to pass on a working
deployment, and to fail, saying why, on a broken one."""

import os
import subprocess
import sys

from local.catalog import ROOT
from tests.slack_helpers import SECRET


def _smoke(stack, id_token: str, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "local.smoke",
        "--base-url",
        stack.api_url,
        "--id-token",
        id_token,
        "--slack-authorize-url",
        f"{stack.sandbox_url}/oauth/v2/authorize",
        "--google-authorize-url",
        f"{stack.sandbox_url}/o/oauth2/v2/auth",
        *extra,
    ]
    env = {key: value for key, value in os.environ.items() if key != "SLACK_SIGNING_SECRET"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _lines(run: subprocess.CompletedProcess) -> dict[str, str]:
    return {line.split(":")[0]: line for line in run.stdout.splitlines() if line.startswith(("PASS", "FAIL"))}


def test_the_smoke_test_passes_against_the_local_stack(stack, id_token):
    token = id_token("smoke-user")
    run = _smoke(stack, token, "--slack-signing-secret", SECRET)
    assert run.returncode == 0, run.stdout + run.stderr
    assert set(_lines(run)) == {
        f"PASS {name}"
        for name in (
            "health",
            "webhooks health",
            "no token refused",
            "authenticated call",
            "slack url_verification",
            "slack bad signature refused",
            "oauth start slack",
            "oauth start gmail",
            "oauth start calendar",
        )
    }
    assert "uid smoke-user" in _lines(run)["PASS authenticated call"]
    assert token not in run.stdout + run.stderr and SECRET not in run.stdout + run.stderr


def test_a_wrong_signing_secret_and_a_bad_token_fail_with_reasons(stack, id_token):
    run = _smoke(stack, id_token("smoke-user", lifetime=600, iat_offset=-3600), "--slack-signing-secret", "not-the-apps-secret")
    assert run.returncode == 1
    lines = _lines(run)
    assert "401" in lines["FAIL authenticated call"] and "token_expired" in lines["FAIL authenticated call"]
    assert "invalid_signature" in lines["FAIL slack url_verification"]
    assert "PASS health" in lines and run.stdout.rstrip().endswith(f"against {stack.api_url}")


def test_an_unreachable_gateway_fails_every_check_without_a_traceback(id_token, stack):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.smoke",
            "--base-url",
            "http://127.0.0.1:9",
            "--id-token",
            "x",
            "--slack-signing-secret",
            "s",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert all(line.startswith("FAIL") for line in _lines(run).values()) and "ConnectionError" in run.stdout
