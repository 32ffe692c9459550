"""`make load`: Locust against the whole local stack, following the profile of issue 9, then a check
of what the gateway owes, and a report in load-report/.

    python -m local.load [--scale 0.1] [--faults] [--users 48] [--out load-report]

The run starts its own stack, the one `make dev` runs (emulators, sandbox, every function on one
host) but on free ports and with an empty database: a run resets sandbox state, turns faults on and
seeds users, none of which should touch a developer's `make dev` session, and results are only
comparable from the same starting point. Steps: seed users through the real OAuth flow; run Locust
headless (`locust.html` with its charts, `locust_*.csv`, and our per-request samples), printing
each phase's achieved rate and failures every few seconds (local/load/progress.py); stop the
faults; wait for the asynchronous work to drain; check effects, tokens and connections; write
`summary.md` and its chart of latency per phase against the targets, `latency.svg`. Exit status 1
when an event was lost or doubled, or a token or connection is broken; missed latency targets are
reported, not failed (they depend on the machine)."""

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time

import requests

from common.platform.secrets import get_secret
from local.catalog import ROOT
from local.load import chart, faults, profile, report, seed, verify
from local.load.cpu_share import CONSUMER_HOST, HTTP_HOST, CpuSampler, cpu_table
from local.stack import Stack, adopt_settings

DRAIN_SECONDS = 240  # covers Pub/Sub's backoff (10 s at most) and a refresh cooldown (60 s)
STARTED = "profile-started"  # the locustfile writes when its profile started (wall clock)
STOP_TIMEOUT = 90  # users finish the scenario they are in (a redelivery included) before Locust quits


def _machine() -> str:
    """What the README's table needs to say about where it ran (Linux: /proc)."""
    info = {}
    for name in ("meminfo", "cpuinfo"):
        for line in pathlib.Path(f"/proc/{name}").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    memory_gib = int(info.get("MemTotal", "0 kB").split()[0]) / 2**20
    return (
        f"{os.cpu_count()} cores ({info.get('model name', platform.machine())}), {memory_gib:.0f} GiB, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )


def _prepare(stack: Stack, with_faults: bool) -> None:
    from common.platform.clients import firestore_client
    from common.product.flags import AUTO_SYNC_FLAG, FLAGS
    from common.product.flags import seed as seed_flags

    seed_flags()
    # Every seeded user syncs (the default is a 50% rollout): every notification then owes an effect.
    firestore_client().collection(FLAGS).document(AUTO_SYNC_FLAG).set({"rollout": 100, "overrides": {}})
    if with_faults:
        faults.shorten_google_tokens(stack.sandbox_url)


def _stack_processes(stack: Stack) -> dict[str, int]:
    """The processes whose CPU the report shows, by the name it shows them under."""
    shown = {
        "host": HTTP_HOST,
        "consumers": CONSUMER_HOST,
        "firestore": "Firestore emulator",
        "pubsub": "Pub/Sub emulator",
        "sandbox": "sandbox",
    }
    children = [*stack.children, *stack.emulators.children]
    return {shown[child.name]: child.process.pid for child in children if child.name in shown}


def _run_locust(stack: Stack, config_path: pathlib.Path, out: pathlib.Path, seconds: float) -> None:
    command = [
        *(sys.executable, "-m", "locust", "-f", str(ROOT / "local" / "load" / "locustfile.py")),
        *("--headless", "--host", stack.api_url, "--only-summary", "--loglevel", "WARNING"),
        *("--html", str(out / "locust.html"), "--csv", str(out / "locust"), "--exit-code-on-error", "0"),
        *("--stop-timeout", str(STOP_TIMEOUT)),
    ]
    env = {**os.environ, "LOAD_CONFIG": str(config_path)}
    subprocess.run(command, env=env, cwd=ROOT, check=True, timeout=seconds + STOP_TIMEOUT + 120)


def main() -> int:
    parser = argparse.ArgumentParser(description="Load test of the local stack (issue 9's profile)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every phase's duration (0.1: a one-minute run)")
    parser.add_argument("--faults", action="store_true", help="the providers answer 503, 429 and slowly throughout")
    parser.add_argument("--users", type=int, default=48, help="seeded users, each with Slack, Gmail and Calendar")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "load-report")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes of each function host")
    parser.add_argument(
        "--one-host",
        action="store_true",
        help="the consumers on the HTTP functions' host (by default a host of their own, as they are functions of their own)",
    )
    args = parser.parse_args()
    if args.scale <= 0 or args.users < 2:
        parser.error("--scale must be positive and --users at least 2")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("samples.csv", "ledger.jsonl", "config.json", "summary.md", STARTED, report.CHART):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / "logs", ignore_errors=True)
    phases = profile.scaled(args.scale)
    run_seconds = sum(p.seconds for p in phases)
    run = {
        "date": datetime.date.today().isoformat(),
        "machine": _machine(),
        "scale": args.scale,
        "users": args.users,
        "faults": args.faults,
        "workers": args.workers,
        "one_host": args.one_host,
    }

    print(f"Starting the stack (logs in {out / 'logs'})...", flush=True)
    stack = Stack(
        log_dir=out / "logs",
        extra_env={"WORKERS": str(args.workers)},
        consumer_host=not args.one_host,
        consumer_workers=args.workers,
    )
    try:
        adopt_settings(stack)
        _prepare(stack, args.faults)
        started = time.monotonic()
        users = seed.seed_users(
            stack.api_url, stack.sandbox_url, stack.env["OAUTH_SUCCESS_URL"], f"{time.time():.0f}", args.users
        )
        print(f"Seeded {len(users)} users in {time.monotonic() - started:.0f}s", flush=True)
        config = {
            "scale": args.scale,
            "sandbox": stack.sandbox_url,
            "consumers": stack.push_url,
            "signingSecret": get_secret("SLACK_SIGNING_SECRET"),
            "users": users,
            "samples": str(out / "samples.csv"),
            "ledger": str(out / "ledger.jsonl"),
            "started": str(out / STARTED),
        }
        (out / "config.json").write_text(json.dumps(config))
        (out / "ledger.jsonl").touch()
        if args.faults:
            faults.inject(stack.sandbox_url)
        print(f"Running the profile for {run_seconds:.0f}s{' with faults' if args.faults else ''}...", flush=True)
        requests.delete(f"{stack.sandbox_url}/_sandbox/calls", timeout=10).raise_for_status()
        cpu = CpuSampler(_stack_processes(stack))
        cpu.start()
        try:
            _run_locust(stack, out / "config.json", out, run_seconds)
        finally:
            cpu.stop()
        injection = faults.recover(stack.sandbox_url)
        print("Draining and checking...", flush=True)
        uids = [u["uid"] for u in users]
        events = verify.events_report(verify.read_ledger(out / "ledger.jsonl"), uids, DRAIN_SECONDS)
        connections = verify.connections_report(uids, stack.sandbox_url)
    finally:
        stack.stop()
        (out / "config.json").unlink(missing_ok=True)  # holds ID tokens and the signing secret
    run["generator_errors"] = report.generator_errors(out / "locust_exceptions.csv")
    host_logs = [out / "logs" / "host.log", out / "logs" / "consumers.log"]
    dropped = report.dropped_messages(*host_logs)
    checks = {
        "events": events,
        "connections": connections,
        "failures": report.retryable_failures(*host_logs),
        "dropped": dropped,
        "passed": verify.passed(events, connections, dropped, run["generator_errors"]),
    }
    if args.faults:
        checks["injection"] = injection
    samples = report.read_samples(out / "samples.csv")
    requests_per_phase = {phase.name: result.requests for phase, result in report.per_phase(phases, samples)}
    cores = cpu.cores_per_phase(phases, float((out / STARTED).read_text())) if (out / STARTED).exists() else []
    summary, _ = report.render(run, phases, samples, checks, cpu_table(cores, list(cpu.processes), requests_per_phase))
    (out / "summary.md").write_text(summary)
    title = f"Latency per phase, {run['date']}, scale {args.scale}{', with faults' if args.faults else ''}"
    (out / report.CHART).write_text(chart.latency_svg(report.per_phase(phases, samples), title))
    print("\n" + summary + f"\nReport: {out / 'summary.md'}, its chart {out / report.CHART}, and {out / 'locust.html'}")
    return 0 if checks["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
