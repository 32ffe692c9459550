"""The hot paths over HTTP, measured fairly against a bare functions-framework hello in the same run:
Slack event and Calendar notification acknowledgements and the status read through the stack's host
(its consumers served by a host of their own, and detached while the paths are measured, so their
work is not charged to the paths), and the token read served like hello (a host of its own). For
each path, at concurrency 1 and 16: p50, p99, the host's CPU milliseconds per request (its
processes' own CPU time over the run), and the exact Firestore and Pub/Sub calls per request,
counted at the host's gRPC client (local/op_counts.py). The floor, measured in the same run: a bare
document get and a bare publish-and-wait from a plain client against the same emulators, with that
client's own CPU per call.

Beside them, the floor's two calls made inside a bare function served like hello (a host each):
a path's figure less its served floor's is what the path's own code costs.

Everything is warmed up first, then measured in interleaved rounds (BENCH_ROUNDS, default one per
path): each round a slice of the floor and a slice of every path at each concurrency, the paths'
order turned by one each round, so each path is measured once in each place. On this machine a
stack's speed drifts within a run and differs 2x between runs (the emulators' JIT, the host's
caches): one after another, the first path measured paid for it and the floor measured cold was
inflated; interleaved, each figure is taken across the same moments."""

import collections
import contextlib
import dataclasses
import os
import pathlib
import time

import requests
from google.api_core.exceptions import NotFound

from local.bench_floor import Floor, FloorClient
from local.bench_http import hello_host, measure, served_get_host, served_publish_host, token_read_host
from local.catalog import consumers, load_catalog
from local.cpu_time import process_tree_cpu_seconds
from local.load.payloads import slack_message_event, slack_signature_headers
from local.load.seed import seed_user
from local.op_counts import OPS_PATH
from local.pubsub_setup import ensure_push_subscriptions
from local.stats import percentile

REQUESTS = int(os.environ.get("BENCH_WEBHOOK_REQUESTS", "2000"))
# The consumers of what the acks publish: detached while the paths are measured (below).
ACK_CONSUMERS = ("slack_events_worker", "calendar_notifications_worker")
CONCURRENCIES = (1, 16)
WARM_UP = 200
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "0"))  # 0: one round per path, so each path is measured once in each place
FLOOR_CALLS = 300  # per floor call over the rounds, and once more to warm up


@dataclasses.dataclass
class HotPath:
    name: str
    send: object  # send(session, i) -> status code
    host_pid: int
    ops_url: str
    required: str  # the one I/O it needs: "" (hello and the served floor), "publish" or "get"


# The floor's calls served like hello, by the I/O they are: what a path is measured over to show its own code's cost.
SERVED = {"get": "served floor: one document get in a bare function", "publish": "served floor: one publish in a bare function"}


def _requests_at(concurrency: int) -> int:
    return REQUESTS if concurrency > 1 else max(REQUESTS // 4, 50)


@dataclasses.dataclass
class Tally:
    """One path at one concurrency, summed over its slices."""

    latencies: list = dataclasses.field(default_factory=list)
    failed: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    ops: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add_slice(self, path: HotPath, requests_total: int, concurrency: int) -> None:
        requests.delete(path.ops_url, timeout=10)
        cpu_before = process_tree_cpu_seconds(path.host_pid)
        result = measure(path.send, requests_total, concurrency)
        self.cpu_seconds += process_tree_cpu_seconds(path.host_pid) - cpu_before
        self.ops.update(requests.get(path.ops_url, timeout=10).json())
        self.latencies += result["latencies"]
        self.failed += result["failed"]
        self.seconds += result["seconds"]

    def result(self) -> dict:
        total = max(len(self.latencies) + self.failed, 1)
        return {
            "ok": len(self.latencies),
            "failed": self.failed,
            "p50": percentile(self.latencies, 0.5),
            "p99": percentile(self.latencies, 0.99),
            "rps": len(self.latencies) / max(self.seconds, 1e-9),
            "cpu_ms": self.cpu_seconds * 1000 / total,
            "ops": {kind: count / total for kind, count in self.ops.items()},
        }


def _interleaved(paths: list[HotPath], floor: FloorClient) -> list[tuple[str, dict, str]]:
    """Warm every path and the floor up, then measure them in interleaved rounds (ROUNDS, or one per path)."""
    floor.slice(FLOOR_CALLS, record=False)
    for path in paths:
        for concurrency in CONCURRENCIES:
            measure(path.send, WARM_UP, concurrency)
    tallies = {(path.name, concurrency): Tally() for path in paths for concurrency in CONCURRENCIES}
    rounds = ROUNDS or len(paths)
    for turn in range(rounds):
        floor.slice(FLOOR_CALLS // rounds)
        ordered = paths[turn % len(paths) :] + paths[: turn % len(paths)]
        for concurrency in CONCURRENCIES:
            for path in ordered:
                tallies[path.name, concurrency].add_slice(path, _requests_at(concurrency) // rounds, concurrency)
    return [
        (path.name, {concurrency: tallies[path.name, concurrency].result() for concurrency in CONCURRENCIES}, path.required)
        for path in paths
    ]


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


def _own_host_path(host, name: str, send, required: str) -> HotPath:
    return HotPath(name, lambda session, i: send(session, host.url), host.child.process.pid, host.ops_url, required)


@contextlib.contextmanager
def _consumers_detached(stack, names: tuple[str, ...]):
    """The acks' messages kept for a subscriber, but no consumer run while the paths are measured:
    on two cores a consumer host of its own still takes the acks' CPU. Their push subscriptions
    become pull subscriptions nobody reads (the messages are stored as for any subscriber), and
    come back empty, so no backlog is left for what the bench measures next."""
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
    floor = FloorClient()
    params = {"uid": user["uid"], "service": "gmail"}
    hosts = []
    get = lambda session, url: session.get(url, timeout=30).status_code  # noqa: E731
    try:
        hosts.append(hello_host(folder, stack.env))
        hello = _own_host_path(hosts[-1], "bare functions-framework hello", get, "")
        hosts.append(served_get_host(folder, stack.env))
        served = [_own_host_path(hosts[-1], SERVED["get"], get, "")]
        hosts.append(served_publish_host(folder, stack.env))
        served.append(_own_host_path(hosts[-1], SERVED["publish"], get, ""))
        hosts.append(token_read_host(folder, stack.env))
        token_read = _own_host_path(
            hosts[-1],
            "token read (token manager: Firestore read, AES-GCM decryption)",
            lambda session, url: session.get(url, params=params, timeout=30).status_code,
            "get",
        )
        with _consumers_detached(stack, ACK_CONSUMERS):
            rows = _interleaved([hello, *served, *_stack_paths(stack, user, signing_secret), token_read], floor)
    finally:
        for host in hosts:
            host.stop()
    return floor.floor, rows


def _ops_text(ops: dict) -> str:
    return ", ".join(f"{count:.2f} {kind}" for kind, count in sorted(ops.items()) if count >= 0.005) or "none"


def print_table(measured) -> None:
    if not measured:
        return
    floor, rows = measured
    hello = rows[0][1]
    print(
        f"\n## Hot paths ({REQUESTS} requests at concurrency 16, {_requests_at(1)} at 1, in {ROUNDS or len(rows)} "
        "interleaved rounds; hello, the served floor and the token read each on a host of their own, the others "
        "on the stack's host, its consumers detached)\n"
    )
    print(
        f"Floor, same rounds, plain client against the same emulators: document get p50 {floor.get.p50:.2f} ms "
        f"({floor.get.cpu_ms:.2f} ms client CPU), publish-and-wait p50 {floor.publish.p50:.2f} ms "
        f"({floor.publish.cpu_ms:.2f} ms client CPU; through the batching client {floor.batched_publish.p50:.2f} ms, "
        f"{floor.batched_publish.cpu_ms:.2f} ms CPU).\n"
    )
    print(
        "| endpoint | concurrency | ok | failed | p50 ms | p99 ms | req/s | host CPU ms/req | "
        "Firestore and Pub/Sub calls per request | p50 ratio to hello | target | met | over its served floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    by_name = {name: by_concurrency for name, by_concurrency, _ in rows}
    for name, by_concurrency, required in rows:
        io = {"publish": floor.publish, "get": floor.get}.get(required)
        for concurrency, r in by_concurrency.items():
            target, met, over = "–", "–", "–"
            if io:
                served = by_name[SERVED[required]][concurrency]
                target, met, over = _against_targets(r, hello[concurrency], io, served, concurrency)
            print(
                f"| {name} | {concurrency} | {r['ok']} | {r['failed']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} "
                f"| {r['cpu_ms']:.2f} | {_ops_text(r['ops'])} | {r['p50'] / hello[concurrency]['p50']:.1f}x | "
                f"{target} | {met} | {over} |"
            )


def _against_targets(r: dict, hello: dict, io, served: dict, concurrency: int) -> tuple[str, str, str]:
    """The issue's target for the path at this concurrency, whether it is met, and what the path
    costs over the same I/O made by a bare function on the same server (its own code's share):
    at 1, p50 of hello + the floor's I/O + 1 ms; at 16, host CPU of 2x hello's + the I/O client's."""
    if concurrency == 1:
        limit = hello["p50"] + io.p50 + 1
        return f"p50 ≤ {limit:.1f} ms", "yes" if r["p50"] <= limit else "no", f"{r['p50'] - served['p50']:+.1f} ms p50"
    limit = 2 * hello["cpu_ms"] + io.cpu_ms
    return f"CPU ≤ {limit:.2f} ms", "yes" if r["cpu_ms"] <= limit else "no", f"{r['cpu_ms'] - served['cpu_ms']:+.2f} ms CPU"
