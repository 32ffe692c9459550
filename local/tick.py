"""`make tick JOB=token_refresh|renew_watches|reencrypt_tokens|migrate_connections`: run a scheduled job once against the
running `make dev` stack, as Cloud Scheduler does: publish the job's message to its topic (the
emulator's push subscription delivers it to the function), then follow the host log until the
function has handled that message, and print the run's log lines (the message carries a trace of
its own, so every line of the run is found by it)."""

import argparse
import json
import os
import secrets
import sys
import time

from google.cloud import pubsub_v1

from local.catalog import load_catalog
from local.pidfile import leftovers, pid_file_path
from local.stack import LOG_DIR, PROJECT

# What each job's message holds: Scheduler's {"job": name}; key rotation starts from the beginning.
MESSAGES = {"reencrypt_tokens": {"restart": True}, "migrate_connections": {"restart": True}}
OUTCOMES = ("message processed", "message too old; dropped", "permanent failure; message acknowledged")


def jobs(catalog: dict) -> list[str]:
    """Functions run on a schedule, and key rotation and the connection-id migration, which an operator starts."""
    return sorted(name for name, spec in catalog.items() if spec.get("schedule") or name in MESSAGES)


def _pubsub_host() -> str:
    record = leftovers(pid_file_path())
    if record is None:
        sys.exit("No make dev is running for this checkout: start it with `make dev` in another terminal.")
    return f"127.0.0.1:{record['ports']['PUBSUB_EMULATOR_PORT']}"


def _follow(log_path, offset: int, trace_id: str, timeout: float) -> list[dict]:
    """The host log lines of this run, once its outcome is logged (or the timeout passed)."""
    lines, deadline = [], time.monotonic() + timeout
    with open(log_path, "rb") as log:
        log.seek(offset)
        while time.monotonic() < deadline:
            raw = log.readline()
            if not raw:
                time.sleep(0.2)
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("logging.googleapis.com/trace", "").endswith(trace_id):
                lines.append(line)
                if line.get("message") in OUTCOMES:
                    return lines
    return lines


def main() -> int:
    catalog = load_catalog()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=jobs(catalog))
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the run to finish")
    args = parser.parse_args()
    os.environ["PUBSUB_EMULATOR_HOST"] = _pubsub_host()
    log_path = LOG_DIR / "host.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    topic = catalog[args.job]["pubsub"]["topic"]
    publisher = pubsub_v1.PublisherClient()
    data = json.dumps(MESSAGES.get(args.job, {"job": args.job})).encode()
    trace_id = secrets.token_hex(16)
    message_id = publisher.publish(
        publisher.topic_path(PROJECT, topic), data, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01"
    ).result(timeout=30)
    print(f"Published tick {message_id} to {topic} (trace {trace_id}); waiting for {args.job}...", flush=True)
    lines = _follow(log_path, offset, trace_id, args.timeout)
    for line in lines:
        details = {k: v for k, v in line.items() if k not in ("time", "logger", "logging.googleapis.com/trace")}
        print(json.dumps(details))
    if not lines or lines[-1].get("message") not in OUTCOMES:
        print(f"No outcome within {args.timeout:.0f}s; the job may still run: see {log_path}", file=sys.stderr)
        return 1
    return 0 if lines[-1]["message"] == "message processed" else 1


if __name__ == "__main__":
    sys.exit(main())
