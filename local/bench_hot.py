"""The hot paths over HTTP, measured fairly against a bare functions-framework hello in the same run:
Slack event and Calendar notification acknowledgements and the status read through the stack's host
(its consumers served by a host of their own, and the acks' own consumers detached while the acks
are measured, so their work is not charged to the acks), and the token read served like hello (a
host of its own). For each path, at concurrency 1 and 16: p50, p99, the host's CPU milliseconds per
request (its processes' own CPU time over the run), and the exact Firestore and Pub/Sub calls per
request, counted at the host's gRPC client (local/op_counts.py). The floor, measured in the same
run: a bare document get and a bare publish-and-wait from a plain client against the same emulators,
with that client's own CPU per call."""

import contextlib
import dataclasses
import os
import pathlib
import time

import requests
from google.api_core.exceptions import NotFound

from local.bench_floor import Floor, measure_floor
from local.bench_http import hello_host, measure, token_read_host
from local.catalog import consumers, load_catalog
from local.cpu_time import process_tree_cpu_seconds
from local.load.payloads import slack_message_event, slack_signature_headers
from local.load.seed import seed_user
from local.op_counts import OPS_PATH
from local.pubsub_setup import ensure_push_subscriptions

REQUESTS = int(os.environ.get("BENCH_WEBHOOK_REQUESTS", "2000"))
# The consumers of what the acks publish: detached while the acks are measured (below).
ACK_CONSUMERS = ("slack_events_worker", "calendar_notifications_worker")
CONCURRENCIES = (1, 16)
WARM_UP = 200


@dataclasses.dataclass
class HotPath:
    name: str
    send: object  # send(session, i) -> status code
    host_pid: int
    ops_url: str
    required: str  # the one I/O it needs: "" (hello), "publish" or "get"


def _requests_at(concurrency: int) -> int:
    return REQUESTS if concurrency > 1 else max(REQUESTS // 4, 50)


def _run(path: HotPath, concurrency: int) -> dict:
    measure(path.send, WARM_UP, concurrency)
    requests.delete(path.ops_url, timeout=10)
    cpu_before = process_tree_cpu_seconds(path.host_pid)
    result = measure(path.send, _requests_at(concurrency), concurrency)
    cpu = process_tree_cpu_seconds(path.host_pid) - cpu_before
    total = result["ok"] + result["failed"]
    ops = requests.get(path.ops_url, timeout=10).json()
    return {**result, "cpu_ms": cpu * 1000 / total, "ops": {kind: count / total for kind, count in ops.items()}}


def connected_user(stack) -> dict:
    """One user with Slack, Gmail and Calendar connected through the real OAuth flow."""
    from common.platform.clients import firestore_client
    from common.product.flags import AUTO_SYNC_FLAG, FLAGS

    # Each queued Calendar notification would start a sync of the one user; what is measured is the ack.
    firestore_client().collection(FLAGS).document(AUTO_SYNC_FLAG).set({"rollout": 0, "overrides": {}})
    return seed_user(stack.api_url, stack.sandbox_url, stack.env["OAUTH_SUCCESS_URL"], f"bench{time.time():.0f}", 0)


def _stack_paths(stack, user: dict, signing_secret: str) -> list[HotPath]:
    api, run = stack.api_url, f"{time.time():.0f}"
    change = requests.post(
        f"{stack.sandbox_url}/_sandbox/calendar/change", json={"email": user["email"], "notify": False}, timeout=30
    ).json()
    channel = change["notifications"][0]["headers"]
    bearer = {"Authorization": f"Bearer {user['idToken']}"}
    host_pid = next(child.process.pid for child in stack.children if child.name == "host")

    def slack_event(session, i):
        now = time.time()
        body = slack_message_event(f"EvBench{run}{i}", "T0ACME", "U0NOBODY", "hi", now)
        headers = slack_signature_headers(signing_secret, body, now)
        return session.post(f"{api}/api/v1/webhooks/slack/events", data=body, headers=headers, timeout=30).status_code

    def calendar_push(session, i):
        return session.post(f"{api}/api/v1/webhooks/calendar/push", headers=channel, timeout=30).status_code

    def status_read(session, i):
        return session.get(f"{api}/api/v1/oauth/calendar/status", headers=bearer, timeout=30).status_code

    def status_read_by_id(session, i):
        params = {"connectionId": "calendar"}
        return session.get(f"{api}/api/v1/oauth/calendar/status", params=params, headers=bearer, timeout=30).status_code

    ops = f"{api}{OPS_PATH}"
    return [
        HotPath("Slack event ack (signed, published)", slack_event, host_pid, ops, "publish"),
        HotPath("Calendar notification ack (channel and token checked, published)", calendar_push, host_pid, ops, "publish"),
        HotPath(
            "status read (ID token verified; no id: the connection and the user's list, one batched get)",
            status_read,
            host_pid,
            ops,
            "get",
        ),
        HotPath("status read naming its connection (?connectionId=: one document get)", status_read_by_id, host_pid, ops, "get"),
    ]


def _measured(path: HotPath) -> tuple[str, dict, str]:
    return path.name, {concurrency: _run(path, concurrency) for concurrency in CONCURRENCIES}, path.required


def _on_own_host(host, name: str, send, required: str) -> tuple[str, dict, str]:
    try:
        pid = host.child.process.pid
        return _measured(HotPath(name, lambda session, i: send(session, host.url), pid, host.ops_url, required))
    finally:
        host.stop()


@contextlib.contextmanager
def _consumers_detached(stack, names: tuple[str, ...]):
    """The acks' messages kept for a subscriber, but no consumer run while the acks are measured:
    on two cores a consumer host of its own still takes the acks' CPU. Their push subscriptions
    become pull subscriptions nobody reads (the messages are stored as for any subscriber), and
    come back empty, so no backlog spills into the paths measured after."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    paths = {name: subscriber.subscription_path(stack.emulators.project, f"{name}-push") for name in names}
    try:
        for path in paths.values():
            subscriber.modify_push_config(subscription=path, push_config={})
        yield
    finally:
        for path in paths.values():
            with contextlib.suppress(NotFound):
                subscriber.delete_subscription(subscription=path)
        topics = {name: topic for name, topic in consumers(load_catalog()).items() if name in names}
        ensure_push_subscriptions(stack.emulators.project, topics, stack.push_url)


def bench_hot_paths(stack, user: dict, folder: pathlib.Path, signing_secret: str) -> tuple[Floor, list[tuple[str, dict, str]]]:
    floor = measure_floor()
    hello = _on_own_host(
        hello_host(folder, stack.env), "bare functions-framework hello", lambda s, url: s.get(url, timeout=30).status_code, ""
    )
    paths = _stack_paths(stack, user, signing_secret)
    params = {"uid": user["uid"], "service": "gmail"}
    token_read = _on_own_host(
        token_read_host(folder, stack.env),
        "token read (token manager: Firestore read, AES-GCM decryption)",
        lambda session, url: session.get(url, params=params, timeout=30).status_code,
        "get",
    )
    acks, reads = [p for p in paths if p.required == "publish"], [p for p in paths if p.required != "publish"]
    with _consumers_detached(stack, ACK_CONSUMERS):
        measured_acks = [_measured(path) for path in acks]
    return floor, [hello, *measured_acks, *(_measured(path) for path in reads), token_read]


def _ops_text(ops: dict) -> str:
    return ", ".join(f"{count:.2f} {kind}" for kind, count in sorted(ops.items()) if count >= 0.005) or "none"


def print_table(measured) -> None:
    if not measured:
        return
    floor, rows = measured
    hello = rows[0][1]
    print(
        f"\n## Hot paths ({REQUESTS} requests at concurrency 16, {_requests_at(1)} at 1; hello and the token read "
        "each on a host of their own, the others on the stack's host, its consumers on another)\n"
    )
    print(
        f"Floor, same run, plain client against the same emulators: document get p50 {floor.get_ms:.2f} ms "
        f"({floor.get_cpu_ms:.2f} ms client CPU), publish-and-wait p50 {floor.publish_ms:.2f} ms "
        f"({floor.publish_cpu_ms:.2f} ms client CPU; through the batching client {floor.batched_publish_ms:.2f} ms, "
        f"{floor.batched_publish_cpu_ms:.2f} ms CPU).\n"
    )
    print(
        "| endpoint | concurrency | ok | failed | p50 ms | p99 ms | req/s | host CPU ms/req | "
        "Firestore and Pub/Sub calls per request | p50 ratio to hello | target | met |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, by_concurrency, required in rows:
        io_ms = {"publish": floor.publish_ms, "get": floor.get_ms}.get(required, 0.0)
        io_cpu = {"publish": floor.publish_cpu_ms, "get": floor.get_cpu_ms}.get(required, 0.0)
        for concurrency, r in by_concurrency.items():
            base = hello[concurrency]
            if concurrency == 1:
                limit = base["p50"] + io_ms + 1
                target, met = f"p50 ≤ {limit:.1f} ms", r["p50"] <= limit
            else:
                limit = 2 * base["cpu_ms"] + io_cpu
                target, met = f"CPU ≤ {limit:.2f} ms", r["cpu_ms"] <= limit
            print(
                f"| {name} | {concurrency} | {r['ok']} | {r['failed']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} "
                f"| {r['cpu_ms']:.2f} | {_ops_text(r['ops'])} | {r['p50'] / base['p50']:.1f}x | "
                f"{'–' if not required else target} | {'–' if not required else ('yes' if met else 'no')} |"
            )
