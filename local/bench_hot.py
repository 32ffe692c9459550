"""The hot paths over HTTP, against a bare functions-framework hello measured in the same run: Slack
event and Calendar notification acknowledgements and the status read through the stack's host, and
the token read served like hello (a host of its own). One user, connected through the real OAuth flow."""

import os
import pathlib
import time

import requests

from local.bench_http import hello_host, measure, token_read_host
from local.load.payloads import slack_message_event, slack_signature_headers
from local.load.seed import seed_user

REQUESTS, CONCURRENCY = int(os.environ.get("BENCH_WEBHOOK_REQUESTS", "2000")), 16
WARM_UP = 200


def _timed(send) -> dict:
    measure(send, WARM_UP, CONCURRENCY)
    return measure(send, REQUESTS, CONCURRENCY)


def _on_own_host(host, send) -> dict:
    try:
        return _timed(lambda session, i: send(session, host.url))
    finally:
        host.stop()


def connected_user(stack) -> dict:
    """One user with Slack, Gmail and Calendar connected through the real OAuth flow."""
    from common.clients import firestore_client
    from common.flags import AUTO_SYNC_FLAG, FLAGS

    # Each queued Calendar notification would start a sync of the one user; what is measured is the ack.
    firestore_client().collection(FLAGS).document(AUTO_SYNC_FLAG).set({"rollout": 0, "overrides": {}})
    return seed_user(stack.api_url, stack.sandbox_url, stack.env["OAUTH_SUCCESS_URL"], f"bench{time.time():.0f}", 0)


def bench_hot_paths(stack, user: dict, folder: pathlib.Path, signing_secret: str) -> list[tuple[str, dict]]:
    api, run = stack.api_url, f"{time.time():.0f}"
    change = requests.post(
        f"{stack.sandbox_url}/_sandbox/calendar/change", json={"email": user["email"], "notify": False}, timeout=30
    ).json()
    channel = change["notifications"][0]["headers"]
    bearer = {"Authorization": f"Bearer {user['idToken']}"}

    def slack_event(session, i):
        now = time.time()
        body = slack_message_event(f"EvBench{run}{i}", "T0ACME", "U0NOBODY", "hi", now)
        headers = slack_signature_headers(signing_secret, body, now)
        return session.post(f"{api}/api/v1/webhooks/slack/events", data=body, headers=headers, timeout=30).status_code

    rows = [("bare functions-framework hello", _on_own_host(hello_host(folder, stack.env), _get))]
    rows.append(("Slack event ack (signed, published)", _timed(slack_event)))
    rows.append(
        (
            "Calendar notification ack (channel and token checked, published)",
            _timed(
                lambda session, i: session.post(f"{api}/api/v1/webhooks/calendar/push", headers=channel, timeout=30).status_code
            ),
        )
    )
    rows.append(
        (
            "status read (ID token verified, connection read)",
            _timed(lambda session, i: session.get(f"{api}/api/v1/oauth/calendar/status", headers=bearer, timeout=30).status_code),
        )
    )
    token = token_read_host(folder, stack.env)
    params = {"uid": user["uid"], "service": "gmail"}
    rows.append(
        (
            "token read (token manager: Firestore read, AES-GCM decryption)",
            _on_own_host(token, lambda session, url: session.get(url, params=params, timeout=30).status_code),
        )
    )
    return rows


def _get(session, url: str) -> int:
    return session.get(url, timeout=30).status_code


def print_table(rows: list[tuple[str, dict]]) -> None:
    print(
        f"\n## Hot paths ({REQUESTS} requests, {CONCURRENCY} concurrent; hello and the token read each on a host "
        "of their own, the others on the stack's host)\n"
    )
    print("| endpoint | ok | failed | p50 ms | p99 ms | req/s | p50 ratio to hello | p99 ratio to hello |")
    print("|---|---|---|---|---|---|---|---|")
    hello = rows[0][1] if rows else None
    for name, result in rows:
        figures = f"{result['ok']} | {result['failed']} | {result['p50']:.1f} | {result['p99']:.1f} | {result['rps']:.0f}"
        print(f"| {name} | {figures} | {result['p50'] / hello['p50']:.1f}x | {result['p99'] / hello['p99']:.1f}x |")
