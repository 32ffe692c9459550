"""Each bundle from `make package` imports its entry point from an empty folder, with nothing
from the repo on sys.path."""

import hashlib
import subprocess
import sys
import zipfile

import pytest

from local.catalog import ROOT, load_catalog
from local.package import build_bundle

CATALOG = load_catalog()
IMPORT_CHECK = """
import importlib.util, os, sys
here = os.getcwd()
assert {repo!r} not in [os.path.realpath(p) for p in sys.path if p], sys.path
assert importlib.util.find_spec("local") is None, "the repo is importable"
sys.path.insert(0, here)
import main, common
assert main.__file__.startswith(here) and common.__file__.startswith(here), (main.__file__, common.__file__)
assert callable(getattr(main, {entry!r}))
"""


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_bundle_imports_alone(name, tmp_path):
    bundle = build_bundle(name, tmp_path / "dist")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert {"main.py", "requirements.txt", "common/__init__.py", "common/settings.py"} <= set(names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "local/")) for n in names)
    assert not any(n.endswith((".html", ".js", ".css")) for n in names), "the dev console is never deployed"
    check = IMPORT_CHECK.format(repo=str(ROOT), entry=CATALOG[name]["entry_point"])
    result = subprocess.run(
        [sys.executable, "-I", "-c", check],
        cwd=unpacked,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_bundles_are_reproducible(tmp_path):
    first = hashlib.md5(build_bundle("health", tmp_path / "a").read_bytes()).hexdigest()
    second = hashlib.md5(build_bundle("health", tmp_path / "b").read_bytes()).hexdigest()
    assert first == second
