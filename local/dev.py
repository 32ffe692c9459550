"""`make dev`: the whole stack on fixed ports until Ctrl-C or SIGTERM, then nothing left running."""

import os
import signal
import subprocess
import sys
import time

from local.catalog import ROOT
from local.prerequisites import missing
from local.stack import LOG_DIR, Stack


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop()


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        sys.exit(f"{name} must be a port number (got {raw!r})")
    return int(raw)


def main() -> int:
    problems = missing()
    if problems:
        print("Missing prerequisites:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    stack = None
    try:
        print("Starting emulators, sandbox and function host...", flush=True)
        stack = Stack(
            api_port=_port("PORT", 8080),
            sandbox_port=_port("SANDBOX_PORT", 8090),
            firestore_port=_port("FIRESTORE_EMULATOR_PORT", 8086),
            pubsub_port=_port("PUBSUB_EMULATOR_PORT", 8085),
        )
        print(
            f"\n  Console   {stack.api_url}/   (dev only: sign in, connect, watch events arrive)\n"
            f"  API       {stack.api_url}   (try {stack.api_url}/api/v1/health)\n"
            f"  Sandbox   {stack.sandbox_url}   (ID token: {stack.sandbox_url}/identity/token?uid=alice)\n"
            f"  Firestore emulator {stack.emulators.firestore_host}\n"
            f"  Pub/Sub emulator   {stack.emulators.pubsub_host}\n"
            f"  Logs      {LOG_DIR}\n\nCtrl-C stops everything.",
            flush=True,
        )
        # Default feature flags and experiments, where Firestore has none yet (existing ones are kept).
        subprocess.run([sys.executable, "-c", "from common.flags import seed; seed()"], env=stack.env, cwd=ROOT, check=True)
        while True:
            dead = stack.dead_children()
            if dead:
                print(f"{dead[0].name} stopped unexpectedly:\n{dead[0].log_tail()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except _Stop:
        return 0
    except RuntimeError as error:
        print(f"make dev failed: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            print("Stopping...", flush=True)
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
