"""The Firestore security rules (infra/firestore.rules) under the emulator's rules engine: the suite's
emulator runs with them, and tests/rules/firestore_rules.test.mjs signs in with the Firebase JS
client SDK as the owner, another user and nobody. Its own project id, so its clear-outs never touch
the suite's data."""

import os
import re
import subprocess

from common.providers import provider
from local.catalog import ROOT
from local.node_packages import ensure

RULES = ROOT / "infra" / "firestore.rules"
NODE_TESTS = ROOT / "tests" / "rules" / "firestore_rules.test.mjs"


def test_the_rules_hold_for_client_sdk_calls_as_the_owner_another_user_and_nobody(stack):
    ensure()
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": stack.emulators.firestore_host, "RULES_PROJECT": "rules-test"}
    done = subprocess.run(
        ["node", "--test", "--test-reporter=spec", str(NODE_TESTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"^ℹ pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed and int(passed[1]) > 0, done.stdout


def test_the_readable_collections_are_exactly_the_synced_ones(stack):
    (listed,) = re.findall(r"collection in \[([^\]]*)\]", RULES.read_text())
    readable = set(re.findall(r"'(\w+)'", listed))
    assert readable == {name for service in ("slack", "gmail", "calendar") for name in provider(service).synced_collections}
