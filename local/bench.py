"""`make bench`: the figures the README records, measured on a stack of its own (fresh emulators
on free ports, the sandbox as provider). Prints a table; asserts nothing.

Sections (BENCH_ONLY=hot|oauth|proxy|cold|tokens runs one): the hot paths over HTTP as ratios to a
bare functions-framework hello (local/bench_hot.py); the OAuth callback's round trips
(local/bench_oauth.py); the proxy's overhead over the same provider call made directly
(local/bench_proxy.py); cold start per function against hello's (local/bench_cold.py); the token
read in process; the scheduled refresh job refreshing due connections, and how its run time grows
with the connections due against the connections stored."""

import datetime
import os
import pathlib
import statistics
import sys
import tempfile
import time

import requests

from common.secrets import get_secret
from local.bench_cold import bench_cold_starts
from local.bench_hot import bench_hot_paths, connected_user
from local.bench_hot import print_table as print_hot_paths
from local.bench_oauth import bench_oauth_callback
from local.bench_oauth import print_table as print_oauth_callback
from local.bench_proxy import bench_proxy_overhead, print_overhead
from local.catalog import load_catalog
from local.stack import Stack, adopt_settings

NOT_DUE = int(os.environ.get("BENCH_NOT_DUE", "100000"))
DUE_SMALL, DUE_LARGE = 1000, int(os.environ.get("BENCH_DUE", "10000"))
HOT_PATH_CALLS = 2000
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "3"))


def _use_stack_env(stack: Stack) -> None:
    os.environ.update(REFRESH_JOB_BUDGET_SECONDS="3000", REFRESH_JOB_CONCURRENCY=os.environ.get("REFRESH_JOB_CONCURRENCY", "16"))
    adopt_settings(stack)


def _seed(stack: Stack, service: str, count: int, uid_prefix: str, due: bool) -> list[str]:
    """Write `count` connections with real sandbox grants (due now) or placeholders (due in a year)."""
    from common.clients import firestore_client
    from common.oauth_flow import connection_record
    from common.oauth_protocol import TokenSet
    from common.providers import provider

    spec = provider(service)
    family = spec.family
    minted = []
    while len(minted) < (count if due else 1):
        want = min(5000, (count if due else 1) - len(minted))
        reply = requests.post(f"{stack.sandbox_url}/_sandbox/mint", json={"family": family, "count": want}, timeout=300)
        reply.raise_for_status()
        minted += reply.json()
    writer, uids = firestore_client().bulk_writer(), []
    now = datetime.datetime.now(datetime.UTC)
    for i in range(count):
        grant = minted[i if due else 0]
        uid = f"{uid_prefix}{i:06d}"
        tokens = TokenSet(grant["access_token"], grant["refresh_token"], 3600, ("bench",), {})
        record = connection_record(spec, uid, tokens, ["bench"], f"{uid_prefix}:{i}", {"bench": True})
        record["refreshDueAt"] = now - datetime.timedelta(seconds=1) if due else now + datetime.timedelta(days=365)
        writer.set(firestore_client().collection("users").document(uid).collection("connections").document(service), record)
        uids.append(uid)
    writer.close()
    return uids


def _make_due(uids: list[str], service: str) -> None:
    from common.clients import firestore_client

    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    writer = firestore_client().bulk_writer()
    for uid in uids:
        writer.update(
            firestore_client().collection("users").document(uid).collection("connections").document(service),
            {"refreshDueAt": past, "expiresAt": past},
        )
    writer.close()


def _page_query_ms() -> float:
    """One page of the due query, alone: the part of a run that depends on the documents stored."""
    from common.refresh_job import due_query
    from common.settings import get_settings
    from common.timeutil import utcnow

    started = time.perf_counter()
    list(due_query(utcnow(), get_settings().refresh_job_page_size).stream())
    return round((time.perf_counter() - started) * 1000, 1)


def _timed_job(label: str, stack: Stack, rows: list) -> None:
    from common.refresh_job import run_refresh_job

    requests.delete(f"{stack.sandbox_url}/_sandbox/calls", timeout=10)
    query_ms = _page_query_ms()
    summary = run_refresh_job()
    calls = sum(requests.get(f"{stack.sandbox_url}/_sandbox/calls", timeout=10).json().values())
    rate = round(summary.refreshed / summary.seconds, 1)
    rows.append((label, summary.due, summary.refreshed, summary.failed, calls, query_ms, summary.pages, summary.seconds, rate))
    print(f"  {label}: {summary.refreshed} refreshed in {summary.seconds:.1f}s", flush=True)


def bench_hot_path(stack: Stack) -> list[str]:
    from common.tokens import get_access_token

    uid = _seed(stack, "gmail", 1, "hot", due=False)[0]  # fresh: every read is the hot path
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


def bench_refresh_job(stack: Stack) -> list:
    rows = []
    small = _seed(stack, "slack", DUE_SMALL, "due", due=True)
    _timed_job(f"{DUE_SMALL} due, 0 others stored", stack, rows)
    print(f"  seeding {NOT_DUE} connections that are not due...", flush=True)
    started = time.monotonic()
    _seed(stack, "slack", NOT_DUE, "idle", due=False)
    print(f"  seeded in {time.monotonic() - started:.0f}s", flush=True)
    _make_due(small, "slack")
    _timed_job(f"{DUE_SMALL} due, {NOT_DUE} others stored", stack, rows)
    _make_due(small, "slack")
    _seed(stack, "slack", DUE_LARGE - DUE_SMALL, "more", due=True)
    _timed_job(f"{DUE_LARGE} due, {NOT_DUE} others stored", stack, rows)
    return rows


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
        stack = Stack(log_dir=pathlib.Path(logs), extra_env={**limits, "HOST_COUNT_OPS": "1"}, consumer_host=True)
        try:
            _use_stack_env(stack)
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
    print("\n## Scheduled refresh job (concurrency {}, against the sandbox)\n".format(os.environ["REFRESH_JOB_CONCURRENCY"]))
    print("| scenario | due | refreshed | failed | provider calls | one page query ms | pages | seconds | refreshes/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
