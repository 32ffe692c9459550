"""Each bundle from `make package` imports its entry point from an empty folder, with nothing
from the repo on sys.path."""

import hashlib
import importlib.metadata
import re
import subprocess
import sys
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
    assert {"main.py", "requirements.txt", "common/__init__.py", "common/platform/settings.py"} <= set(names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "local/")) for n in names)
    assert not any(n.endswith((".html", ".js", ".css")) for n in names), "the dev console is never deployed"
    assert not any("node_modules" in n or "swagger" in n.lower() for n in names), "nor the npm packages (/docs, rules tests)"
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


LOCKED = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\]+)((?:\s*\\\n\s*--hash=sha256:[0-9a-f]{64})+)", re.M)


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _runtime_closure() -> set[str]:
    """Every package requirements.txt pulls in on this interpreter (the runtime's Python), from the
    installed distributions' metadata, extras followed."""
    found, pending = (
        set(),
        [Requirement(line) for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")],
    )
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in found:
            continue
        found.add(key)
        for raw in importlib.metadata.distribution(name).requires or []:
            child = Requirement(raw)
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(child)
    return {name for name, _ in found}


def test_each_bundle_installs_by_hash_exactly_the_versions_the_tests_ran(tmp_path):
    """A bundle's requirements.txt is the runtime lock: every transitive package, pinned to the
    version of constraints.txt (the tested set), with the hashes pip then insists on."""
    with zipfile.ZipFile(build_bundle("health", tmp_path)) as archive:
        shipped = archive.read("requirements.txt").decode()
    locked = {canonicalize_name(name): version for name, version, _ in LOCKED.findall(shipped)}
    pinned_lines = [line for line in shipped.splitlines() if "==" in line]
    assert locked and len(locked) == len(pinned_lines), "every pinned package needs its --hash=sha256 lines"
    tested = _pins(ROOT / "constraints.txt")
    drift = {name: (version, tested.get(name)) for name, version in locked.items() if tested.get(name) != version}
    assert not drift, f"locked versions that are not the tested ones (lock, constraints.txt): {drift}"
    assert set(locked) == _runtime_closure(), set(locked) ^ _runtime_closure()
