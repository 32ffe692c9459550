"""`make dev`: the whole stack on fixed ports until Ctrl-C, SIGTERM or SIGHUP (the terminal closed),
then nothing left running. What it starts is recorded in a pid file, so that `make stop` can end a
stack whose `make dev` was killed outright, and the next `make dev` recognises its own leftovers."""

import os
import signal
import subprocess
import sys
import time

from local.catalog import ROOT
from local.pidfile import PidFile, describe, leftovers, pid_file_path
from local.prerequisites import missing
from local.stack import LOG_DIR, Stack
from local.stop import stop_leftovers

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEFAULT_PORTS = {"PORT": 8080, "SANDBOX_PORT": 8090, "FIRESTORE_EMULATOR_PORT": 8086, "PUBSUB_EMULATOR_PORT": 8085}


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop()


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        sys.exit(f"{name} must be a port number (got {raw!r})")
    return int(raw)


def _shared_ports(ports: dict[str, int]) -> list[str]:
    """A line for each port two settings name: the second process would find it taken by the first."""
    by_port: dict[int, list[str]] = {}
    for name, port in ports.items():
        by_port.setdefault(port, []).append(name)
    shared = [(port, names) for port, names in by_port.items() if len(names) > 1]
    return [f"{' and '.join(names)} name the same port, {port}: give each its own" for port, names in shared]


def _leftovers_stopped(path) -> bool:
    """False when an earlier make dev of this checkout still runs and is not to be stopped now."""
    record = leftovers(path)
    if record is None:
        return True
    print(f"A make dev of this checkout is still running: {describe(record)}.", file=sys.stderr)
    if sys.stdin.isatty():
        answer = input("Stop it and start again? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            print(stop_leftovers(path))
            return True
    print("Stop it with `make stop` (it stops only what that make dev started), then run make dev again.", file=sys.stderr)
    return False


def main() -> int:
    problems = missing()
    if problems:
        print("Missing prerequisites:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 1
    path = pid_file_path()
    if not _leftovers_stopped(path):
        return 1
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _raise_stop)
    ports = {name: _port(name, default) for name, default in DEFAULT_PORTS.items()}
    shared = _shared_ports(ports)
    if shared:
        print("\n".join(shared), file=sys.stderr)
        return 1
    pid_file, stack = PidFile(path, ports), None
    try:
        print("Starting emulators, sandbox and function host...", flush=True)
        stack = Stack(
            api_port=ports["PORT"],
            sandbox_port=ports["SANDBOX_PORT"],
            firestore_port=ports["FIRESTORE_EMULATOR_PORT"],
            pubsub_port=ports["PUBSUB_EMULATOR_PORT"],
            on_start=pid_file.add,
        )
        # Before the banner, so that no sign-in reads (and caches) the flags before they are seeded:
        # default feature flags and experiments where Firestore has none yet (existing ones are kept),
        # and background sync on for the dev uids (local/dev_flags.py).
        subprocess.run([sys.executable, "-m", "local.dev_flags"], env=stack.env, cwd=ROOT, check=True)
        print(
            f"\n  Console   {stack.api_url}/   (dev only: sign in, connect, watch events arrive)\n"
            f"  API       {stack.api_url}   (try {stack.api_url}/api/v1/health)\n"
            f"  API docs  {stack.api_url}/docs   (client example: {stack.api_url}/docs/client-example.html)\n"
            f"  Sandbox   {stack.sandbox_url}   (ID token: {stack.sandbox_url}/identity/token?uid=alice)\n"
            f"  Firestore emulator {stack.emulators.firestore_host}\n"
            f"  Pub/Sub emulator   {stack.emulators.pubsub_host}\n"
            f"  Logs      {LOG_DIR}\n\nCtrl-C stops everything (or `make stop` from another terminal).",
            flush=True,
        )
        while True:
            dead = stack.dead_children()
            if dead:
                print(f"{dead[0].name} stopped unexpectedly:\n{dead[0].log_tail()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except _Stop:
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"make dev failed: {error}", file=sys.stderr)
        return 1
    finally:
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, signal.SIG_IGN)
        if stack is not None:
            print("Stopping...", flush=True)
            stack.stop()
        pid_file.remove()


if __name__ == "__main__":
    sys.exit(main())
