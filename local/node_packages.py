"""The npm packages of package-lock.json in node_modules/: the Firebase JS SDK (the security-rules
tests, the client example) and Swagger UI (the API reference at /docs). Dev and test only: function
bundles are built from functions/ and common/. `npm ci` runs only when the lock changed since the
last install; a missing node or npm is said in words, not as a traceback."""

import hashlib
import re
import shutil
import subprocess
import sys

from local.catalog import ROOT

LOCK = ROOT / "package-lock.json"
MODULES = ROOT / "node_modules"
STAMP = MODULES / ".lock-sha256"
NODE_MAJOR = 20  # node --test with describe/test and the spec reporter; the Firebase JS SDK's engines
MISSING = "Missing prerequisite: {} (Node.js 20 or newer with npm; Debian/Ubuntu: apt-get install nodejs npm)"


def _lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def ensure() -> None:
    """Install node_modules/ from the lock unless it is already installed from this very lock."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise SystemExit(MISSING.format(tool))
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if not major or int(major[1]) < NODE_MAJOR:
        raise SystemExit(MISSING.format(f"Node.js {NODE_MAJOR} or newer (found {version or 'no version'})"))
    digest = _lock_digest()
    if STAMP.is_file() and STAMP.read_text().strip() == digest:
        return
    # --ignore-scripts: none of these packages needs its install script (one only reports telemetry).
    done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"npm ci failed (exit {done.returncode}): see its output above")
    STAMP.write_text(digest + "\n")


def main() -> int:
    ensure()
    return 0


if __name__ == "__main__":
    sys.exit(main())
