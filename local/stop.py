"""`make stop`: stop a `make dev` left running (in another terminal, or orphaned by kill -9 or a
crash), and only what its pid file names."""

import os
import signal
import sys
import time

from local.pidfile import describe, leftovers, pid_file_path
from local.processes import stop_group

DEV_GRACE_SECONDS = 30  # make dev stops its own children on SIGTERM: give it time to


def stop_leftovers(path) -> str:
    """Stop what the pid file at `path` names; returns what was done, in a sentence."""
    record = leftovers(path)
    if record is None:
        path.unlink(missing_ok=True)
        return "Nothing to stop: no make dev of this checkout is running."
    dev = next((entry for entry in record["alive"] if entry["name"] == "make dev"), None)
    if dev is not None:
        os.kill(dev["pgid"], signal.SIGTERM)
        deadline = time.monotonic() + DEV_GRACE_SECONDS
        while time.monotonic() < deadline and leftovers(path) is not None:
            time.sleep(0.2)
    still = leftovers(path)
    for entry in (still or {}).get("alive", []):
        if entry["name"] == "make dev":
            os.kill(entry["pgid"], signal.SIGKILL)
        else:
            stop_group(entry["pgid"])
    path.unlink(missing_ok=True)
    return f"Stopped {describe(record)}."


def main() -> int:
    print(stop_leftovers(pid_file_path()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
