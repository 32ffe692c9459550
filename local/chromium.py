"""The browser the console tests drive: Debian's `chromium` package. `make browser` (run by
`make test`) installs it when it is missing; Playwright is pointed at it and never downloads a
browser of its own."""

import os
import pathlib
import shutil
import subprocess
import sys

PACKAGE = "chromium"
EXECUTABLE = pathlib.Path("/usr/bin/chromium")
# Headless, and none of Chromium's background connections (updates, sync, field trials, QUIC
# probes), which a closed network refuses and which have nothing to do with a test.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = (
    f"Missing prerequisite: Debian's {PACKAGE} package ({EXECUTABLE}), which the console tests drive. "
    f"Install it as root: apt-get install {PACKAGE}"
)


def install() -> str | None:
    """Install the package with apt-get when it is missing; the problem in words when that cannot be done."""
    if EXECUTABLE.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return MISSING
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"Installing Debian's {PACKAGE} for the console tests...", flush=True)
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGE]):
        if subprocess.run(command, env=apt).returncode != 0:
            return f"{MISSING} ({' '.join(command)} failed)"
    return None if EXECUTABLE.exists() else MISSING


def main() -> int:
    problem = install()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
