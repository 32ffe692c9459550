"""`make bench` (BENCH_ONLY=tokens): the scheduled refresh from the tick to the last chunk, with the
chunks refreshed by the stack's host through the emulator's push subscription, as deployed. How a
run's wall time grows with the connections due against the connections stored, and what a provider
that takes SANDBOX_TOKEN_LATENCY_MS per token call (BENCH_TOKEN_LATENCY_MS, 200 ms) costs against
the same run with an instant one; before each run, what one document get and one commit cost the
emulator at the size it then holds. Prints figures; asserts nothing."""

import datetime
import os
import statistics
import time

import requests

from local.stack import Stack

NOT_DUE = int(os.environ.get("BENCH_NOT_DUE", "100000"))
DUE = int(os.environ.get("BENCH_DUE", "10000"))
DUE_SMALL = min(1000, DUE)
LATENCY_MS = int(os.environ.get("BENCH_TOKEN_LATENCY_MS", "200"))
RUN_TIMEOUT_SECONDS = 3000
SEED_WRITES_PER_SECOND = 50_000
PROBE_CALLS = 200  # sequential gets and commits per probe of the emulator's cost per document


def _bulk_writer():
    """A BulkWriter without its production throttle (500 writes a second, Firestore's ramp-up rule):
    the emulator takes what it can, so seeding 1,000,000 connections takes minutes, not half an hour."""
    from google.cloud.firestore_v1.bulk_writer import BulkWriterOptions

    from common.platform.clients import firestore_client

    unthrottled = BulkWriterOptions(initial_ops_per_second=SEED_WRITES_PER_SECOND, max_ops_per_second=SEED_WRITES_PER_SECOND)
    return firestore_client().bulk_writer(options=unthrottled)


def seed_connections(sandbox_url: str, service: str, count: int, uid_prefix: str, due: bool) -> list[str]:
    """Write `count` connections with real sandbox grants (due now) or placeholders (due in a year)."""
    from common.connect.oauth_flow import connection_record
    from common.oauth.oauth_protocol import TokenSet
    from common.providers import provider
    from common.stores.connections import connection_ref

    spec = provider(service)
    minted = []
    while len(minted) < (count if due else 1):
        want = min(5000, (count if due else 1) - len(minted))
        reply = requests.post(f"{sandbox_url}/_sandbox/mint", json={"family": spec.family, "count": want}, timeout=300)
        reply.raise_for_status()
        minted += reply.json()
    writer, uids = _bulk_writer(), []
    now = datetime.datetime.now(datetime.UTC)
    for i in range(count):
        grant = minted[i if due else 0]
        uid = f"{uid_prefix}{i:06d}"
        tokens = TokenSet(grant["access_token"], grant["refresh_token"], 3600, ("bench",), {})
        record = connection_record(spec, uid, tokens, ["bench"], f"{uid_prefix}:{i}", {"bench": True})
        record["refreshDueAt"] = now - datetime.timedelta(seconds=1) if due else now + datetime.timedelta(days=365)
        writer.set(connection_ref(uid, service), record)
        uids.append(uid)
    writer.close()
    return uids


def make_due(uids: list[str], service: str) -> None:
    from common.stores.connections import connection_ref

    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    writer = _bulk_writer()
    for uid in uids:
        writer.update(connection_ref(uid, service), {"refreshDueAt": past, "expiresAt": past})
    writer.close()


def run_refresh(timeout: float = 60.0) -> dict:
    """Start a run (the tick, in this process) and return its totals once every chunk is in, or as
    they stand at the timeout."""
    from common.stores import refresh_runs
    from common.tokens.refresh_job import start_run

    run_id, deadline = start_run()["runId"], time.monotonic() + timeout
    while not refresh_runs.finished(run := refresh_runs.totals(run_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return run


def _due_query_ms() -> float:
    """The whole due query, streamed alone: the part of a run that depends on the documents stored."""
    from common.platform.timeutil import utcnow
    from common.tokens.refresh_job import due_query

    started = time.perf_counter()
    list(due_query(utcnow()).stream())
    return round((time.perf_counter() - started) * 1000, 1)


def _one_document_ms(uid: str) -> tuple[float, float]:
    """p50 of PROBE_CALLS gets of a stored connection and of as many one-document commits to a
    connection that is never due: what one read or write costs the emulator at the size it holds
    (a refresh makes one commit; its chunk, one batched get)."""
    from common.stores.connections import connection_ref

    stored, probe = connection_ref(uid, "slack"), connection_ref("_bench_probe", "slack")
    gets, commits = [], []
    for n in range(PROBE_CALLS):
        started = time.perf_counter()
        stored.get()
        gets.append(time.perf_counter() - started)
        started = time.perf_counter()
        probe.set({"probe": n})
        commits.append(time.perf_counter() - started)
    probe.delete()
    return round(statistics.median(gets) * 1000, 2), round(statistics.median(commits) * 1000, 2)


def _timed_run(label: str, stack: Stack, latency_ms: int, rows: list, probed: str, ratio: str = "") -> float:
    requests.patch(f"{stack.sandbox_url}/_sandbox/config", json={"token_latency_ms": latency_ms}, timeout=10).raise_for_status()
    requests.delete(f"{stack.sandbox_url}/_sandbox/calls", timeout=10).raise_for_status()
    get_ms, commit_ms = _one_document_ms(probed)
    query_ms = _due_query_ms()
    started = time.monotonic()
    run = run_refresh(RUN_TIMEOUT_SECONDS)
    seconds = round(time.monotonic() - started, 2)
    calls = sum(requests.get(f"{stack.sandbox_url}/_sandbox/calls", timeout=10).json().values())
    per_due = round(calls / run["due"], 2) if run["due"] else 0
    rate = round(run["refreshed"] / seconds, 1)
    counts = [run["due"], run["refreshed"], run["failed"], per_due, run["chunks"]]
    rows.append([label, latency_ms, *counts, get_ms, commit_ms, query_ms, seconds, rate, ratio])
    print(f"  {label}, {latency_ms} ms per token call: {run['refreshed']} refreshed in {seconds:.1f}s", flush=True)
    return seconds


def bench_refresh_job(stack: Stack) -> list:
    rows = []
    small = seed_connections(stack.sandbox_url, "slack", DUE_SMALL, "due", due=True)
    probed = small[0]
    _timed_run(f"{DUE_SMALL} due, 0 others stored", stack, 0, rows, probed)
    print(f"  seeding {NOT_DUE} connections that are not due...", flush=True)
    started = time.monotonic()
    seed_connections(stack.sandbox_url, "slack", NOT_DUE, "idle", due=False)
    print(f"  seeded in {time.monotonic() - started:.0f}s", flush=True)
    make_due(small, "slack")
    _timed_run(f"{DUE_SMALL} due, {NOT_DUE} others stored", stack, 0, rows, probed)
    make_due(small, "slack")
    more = seed_connections(stack.sandbox_url, "slack", DUE - DUE_SMALL, "more", due=True) if DUE > DUE_SMALL else []
    baseline = _timed_run(f"{DUE} due, {NOT_DUE} others stored", stack, 0, rows, probed, "1.00x (baseline)")
    make_due(small + more, "slack")
    slow = _timed_run(f"{DUE} due, {NOT_DUE} others stored", stack, LATENCY_MS, rows, probed)
    rows[-1][-1] = f"{slow / baseline:.2f}x"
    return rows


def print_table(rows: list) -> None:
    if not rows:
        return
    from common.platform.settings import get_settings

    concurrency, chunk = get_settings().refresh_job_concurrency, get_settings().refresh_job_chunk_size
    print(f"\n## Scheduled refresh run (chunks of {chunk}, {concurrency} refreshes at once per chunk, against the sandbox)\n")
    print(
        "| scenario | token call ms | due | refreshed | failed | provider calls per due | chunks "
        "| one get ms | one commit ms | due query ms | seconds | refreshes/s | wall time, ratio to the instant provider |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
