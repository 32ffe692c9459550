"""Checks that the machine has what the local stack needs, and says exactly what is missing."""

import pathlib
import re
import shutil
import subprocess
import sys

HELP = {
    "java": "Java 17 or newer on PATH (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)",
    "gcloud": "the Google Cloud CLI on PATH (https://cloud.google.com/sdk/docs/install)",
    "firestore": "the Firestore emulator: gcloud components install cloud-firestore-emulator",
    "pubsub": "the Pub/Sub emulator: gcloud components install pubsub-emulator",
}


def _java_major() -> int | None:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _sdk_root() -> str | None:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return None
    try:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def missing() -> list[str]:
    """Every missing prerequisite, as an instruction a person can follow."""
    problems = []
    major = _java_major()
    if major is None or major < 17:
        problems.append(HELP["java"] + ("" if major is None else f" (found Java {major})"))
    root = _sdk_root()
    if root is None:
        problems.append(HELP["gcloud"])
    else:
        platform = pathlib.Path(root) / "platform"
        if not (platform / "cloud-firestore-emulator").is_dir():
            problems.append(HELP["firestore"])
        if not (platform / "pubsub-emulator").is_dir():
            problems.append(HELP["pubsub"])
    return problems


def main() -> int:
    problems = missing()
    if problems:
        print("Missing prerequisites:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
