"""`make bench`: the figures the README records, measured on a stack of its own (fresh emulators
on free ports, the sandbox as provider). Prints a table; asserts nothing.

Sections (BENCH_ONLY=hot|oauth|proxy|cold|tokens runs one): the hot paths over HTTP as ratios to a
bare functions-framework hello (local/bench_hot.py); the OAuth callback's round trips
(local/bench_oauth.py); the proxy's overhead over the same provider call made directly
(local/bench_proxy.py); cold start per function against hello's (local/bench_cold.py); the token
read in process; the scheduled refresh run across its chunks, how its wall time grows with the
connections due against the connections stored, and at provider latency (local/bench_refresh.py)."""

import os
import pathlib
import statistics
import sys
import tempfile
import time

from common.platform.secrets import get_secret
from local.bench_cold import bench_cold_starts
from local.bench_hot import bench_hot_paths, connected_user
from local.bench_hot import print_table as print_hot_paths
from local.bench_oauth import bench_oauth_callback
from local.bench_oauth import print_table as print_oauth_callback
from local.bench_proxy import bench_proxy_overhead, print_overhead
from local.bench_refresh import bench_refresh_job, seed_connections
from local.bench_refresh import print_table as print_refresh_runs
from local.catalog import load_catalog
from local.stack import Stack, adopt_settings

HOT_PATH_CALLS = 2000
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "3"))
# The tick (here) and the workers (the consumer host) both read these.
REFRESH_ENV = {"REFRESH_JOB_BUDGET_SECONDS": "3000"}
# Worker processes of the consumer host: each is one instance of a deployment's consumers.
CONSUMER_WORKERS = int(os.environ.get("BENCH_CONSUMER_WORKERS", "2"))


def bench_hot_path(stack: Stack) -> list[str]:
    from common.tokens.reader import get_access_token

    uid = seed_connections(stack.sandbox_url, "gmail", 1, "hot", due=False)[0]  # fresh: every read is the hot path
    get_access_token(uid, "gmail")
    samples = []
    for _ in range(HOT_PATH_CALLS):
        started = time.perf_counter()
        get_access_token(uid, "gmail")
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return [
        f"token read, no refresh ({HOT_PATH_CALLS} calls, one thread): mean {statistics.mean(samples):.0f} us, "
        f"p50 {samples[len(samples) // 2]:.0f} us, p99 {samples[int(len(samples) * 0.99)]:.0f} us"
    ]


def main() -> int:
    with tempfile.TemporaryDirectory() as logs:
        # The load here is one workspace and one user: the limits would measure themselves, not the paths.
        limits = {
            n: "100000"
            for n in (
                "RATE_LIMIT_USER_PER_MINUTE",
                "RATE_LIMIT_USER_BURST",
                "RATE_LIMIT_WEBHOOK_PER_MINUTE",
                "RATE_LIMIT_WEBHOOK_BURST",
                "RATE_LIMIT_PROXY_USER_PER_MINUTE",
                "RATE_LIMIT_PROXY_USER_BURST",
                "RATE_LIMIT_PROXY_CONNECTION_PER_MINUTE",
                "RATE_LIMIT_PROXY_CONNECTION_BURST",
            )
        }
        # Consumers on a host of their own, so the acks are not charged for the work they hand off;
        # every host counts its Firestore and Pub/Sub calls (local/op_counts.py).
        stack = Stack(
            log_dir=pathlib.Path(logs),
            extra_env={**limits, **REFRESH_ENV, "HOST_COUNT_OPS": "1"},
            consumer_host=True,
            consumer_workers=CONSUMER_WORKERS,
        )
        try:
            adopt_settings(stack)
            print(f"Benchmarks (machine: {os.cpu_count()} cores)", flush=True)
            only = os.environ.get("BENCH_ONLY", "")
            folder = pathlib.Path(logs)
            user = connected_user(stack) if only in ("", "hot", "proxy") else None
            hot_rows = bench_hot_paths(stack, user, folder, get_secret("SLACK_SIGNING_SECRET")) if only in ("", "hot") else None
            proxy = bench_proxy_overhead(stack, user) if only in ("", "proxy") else None
            oauth_rows = bench_oauth_callback(stack) if only in ("", "oauth") else []
            cold_rows = bench_cold_starts(load_catalog(), folder, stack.env, COLD_RUNS) if only in ("", "cold") else []
            lines = bench_hot_path(stack) if only in ("", "tokens") else []
            rows = bench_refresh_job(stack) if only in ("", "tokens") else []
        finally:
            stack.stop()
    print_hot_paths(hot_rows)
    print_oauth_callback(oauth_rows)
    print_overhead(proxy)
    print(f"\n## Cold start: process start to first answered request (median of {COLD_RUNS})\n")
    print("| function | trigger | median ms | fastest ms | ratio to hello |")
    print("|---|---|---|---|---|")
    for name, kind, median, fastest in cold_rows:
        print(f"| {name} | {kind} | {median:.0f} | {fastest:.0f} | {median / cold_rows[0][2]:.1f}x |")
    print("\n## Token manager")
    for line in lines:
        print(f"- {line}")
    print_refresh_runs(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
