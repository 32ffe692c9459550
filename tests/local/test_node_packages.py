"""`make node-packages` on a machine without Node.js says what to install, not a traceback."""

import subprocess
import sys

from local.catalog import ROOT


def test_a_missing_node_is_named_with_what_to_install(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "local.node_packages"], cwd=ROOT, env={"PATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "Missing prerequisite: node (Node.js 20 or newer with npm" in done.stderr
    assert "Traceback" not in done.stderr
