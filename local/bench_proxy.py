"""The proxy's overhead: the p50 of a proxied call (ID token verified, rate limits, token read and
decrypted, the provider call, the reply passed back) minus the p50 of the same provider call made
straight to the sandbox with the same token, both measured in the same run, one call at a time (so
the difference is the proxy's own work, not queueing on a shared machine). Target: 5 ms or less;
printed, never asserted. For scale, the status read (the same ID-token check and one connection
read, no provider call) is measured alongside: most of the overhead is that floor. The host's
Firestore and Pub/Sub calls per request (local/op_counts.py) are printed with each row: the proxy's
round trips besides the provider call."""

import os

import requests

from local.bench_http import measure
from local.op_counts import OPS_PATH

REQUESTS = int(os.environ.get("BENCH_PROXY_REQUESTS", "500"))
WARM_UP = 50
CALL = ("gmail", "gmail/v1/users/me/labels")
SCALE = "status read (no provider call), for scale"


def bench_proxy_overhead(stack, user: dict) -> dict:
    from common.tokens.reader import get_access_token

    service, path = CALL
    token = get_access_token(user["uid"], service)
    direct_url = f"{stack.sandbox_url}/{path}"
    proxied_url = f"{stack.api_url}/api/v1/proxy/{service}/{path}"
    direct = {"Authorization": f"Bearer {token}"}
    proxied = {"Authorization": f"Bearer {user['idToken']}"}

    def straight(session, i):
        return session.get(direct_url, headers=direct, timeout=30).status_code

    def through_proxy(session, i):
        return session.get(proxied_url, headers=proxied, timeout=30).status_code

    def status_read(session, i):
        return session.get(f"{stack.api_url}/api/v1/oauth/{service}/status", headers=proxied, timeout=30).status_code

    sends = {"direct": straight, "proxied": through_proxy, SCALE: status_read}
    for send in sends.values():
        measure(send, WARM_UP, 1)
    ops_url = f"{stack.api_url}{OPS_PATH}"
    results = {label: _counted(send, ops_url) for label, send in sends.items()}
    return {"call": f"GET {service} {path}", **results, "overhead_ms": results["proxied"]["p50"] - results["direct"]["p50"]}


def _counted(send, ops_url: str) -> dict:
    """measure() at concurrency 1, with the host's Firestore and Pub/Sub calls per request."""
    requests.delete(ops_url, timeout=10)
    result = measure(send, REQUESTS, 1)
    ops = requests.get(ops_url, timeout=10).json()
    per_request = {kind: n / (result["ok"] + result["failed"]) for kind, n in sorted(ops.items())}
    return {**result, "ops": ", ".join(f"{n:.2f} {kind}" for kind, n in per_request.items() if n >= 0.005) or "none"}


def print_overhead(result: dict | None) -> None:
    if not result:
        return
    print(f"\n## Proxy overhead ({REQUESTS} calls each, one at a time, same run; target <= 5 ms)\n")
    print("| call | ok | failed | p50 ms | p99 ms | host's Firestore / Pub/Sub calls per request |")
    print("|---|---|---|---|---|---|")
    for label in ("direct", "proxied", SCALE):
        r = result[label]
        print(f"| {result['call']}, {label} | {r['ok']} | {r['failed']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['ops']} |")
    print(f"\nproxy overhead (p50 proxied - p50 direct): {result['overhead_ms']:.2f} ms")
