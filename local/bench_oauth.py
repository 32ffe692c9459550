"""The OAuth callback's round trips, for `make bench`: per service, the Firestore and Pub/Sub calls
the callback makes (counted at the host's gRPC client) and the provider calls (counted by the
sandbox), all of which sit between the consent and the redirect back to the app, and its p50."""

import os
import time
import urllib.parse

import requests

from local.consent_browser import Browser, callback_url
from local.op_counts import OPS_PATH
from local.stats import percentile

CONNECTS = int(os.environ.get("BENCH_OAUTH_CONNECTS", "20"))
ACCOUNTS = {
    "slack": lambda i: {"team_id": "T0BENCH", "team_name": "Bench", "user_id": f"U0OAUTH{i:04d}"},
    "gmail": lambda i: {"email": f"oauth{i:04d}@example.com"},
}
ANALYTICS = "publishes to analytics-events"  # batched in the background, never waited for
UNWAITED = "publishes to connection-events"  # sent before the reply, its acknowledgement not waited for


def _one(api: str, sandbox: str, service: str, uid: str, account: dict) -> tuple[float, dict, int]:
    browser = Browser()
    browser.headers["Authorization"] = (
        "Bearer " + requests.get(f"{sandbox}/identity/token", params={"uid": uid}, timeout=30).json()["idToken"]
    )
    started = browser.get(f"{api}/api/v1/oauth/{service}/start").json()["data"]["authUrl"]
    to_callback = callback_url(browser, started, **account)
    requests.delete(f"{api}{OPS_PATH}", timeout=10)
    requests.delete(f"{sandbox}/_sandbox/calls", timeout=10)
    began = time.perf_counter()
    landed = browser.get(to_callback)
    elapsed = (time.perf_counter() - began) * 1000
    reason = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landed.headers.get("Location", "")).query)).get("reason")
    if landed.status_code != 302 or reason:
        raise RuntimeError(f"{service} callback failed: {landed.status_code} {reason}")
    ops = requests.get(f"{api}{OPS_PATH}", timeout=10).json()
    provider_calls = sum(requests.get(f"{sandbox}/_sandbox/calls", timeout=10).json().values())
    return elapsed, ops, provider_calls


def bench_oauth_callback(stack) -> list[dict]:
    rows, run = [], f"{time.time():.0f}"
    for service, account in ACCOUNTS.items():
        samples = [_one(stack.api_url, stack.sandbox_url, service, f"oauth-{run}-{i}", account(i)) for i in range(CONNECTS)]
        last = samples[-1][1]
        rows.append(
            {
                "service": service,
                "p50": percentile([s[0] for s in samples], 0.5),
                "ops": {kind: count for kind, count in sorted(last.items()) if kind != ANALYTICS},
                "provider": samples[-1][2],
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    if not rows:
        return
    print(f"\n## OAuth callback ({CONNECTS} connects per service, a new user each)\n")
    print("| service | p50 ms | Firestore and Pub/Sub calls (analytics aside) | provider calls | sequential round trips |")
    print("|---|---|---|---|---|")
    for row in rows:
        calls = ", ".join(
            f"{count} {kind}{' (not waited for)' if kind == UNWAITED else ''}" for kind, count in row["ops"].items()
        )
        waited = sum(count for kind, count in row["ops"].items() if kind != UNWAITED)
        print(f"| {row['service']} | {row['p50']:.0f} | {calls} | {row['provider']} | {waited + row['provider']} |")
