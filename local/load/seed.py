"""Connected users for a load run, made the way real users are: each signs in (a sandbox ID token)
and connects Slack, Gmail and Calendar through the real OAuth flow (start, consent page, callback),
so every connection has real encrypted tokens, a Gmail watch and a Calendar channel.

Half the users receive Calendar changes (their channel notifications go through the push endpoint
and Pub/Sub); the other half are the token-read users, whose Calendar consumer is called directly
with no change pending: a token read and one provider call with the token."""

import concurrent.futures
import urllib.parse

import requests

from common.platform.clients import firestore_client
from local.consent_browser import Browser, decide

SERVICES = ("slack", "gmail", "calendar")
TEAMS = 4  # Slack workspaces the users spread over (webhook rate limits are per workspace)


def _connect(api_url: str, success_url: str, browser: Browser, service: str, account: dict) -> None:
    started = browser.get(f"{api_url}/api/v1/oauth/{service}/start")
    started.raise_for_status()
    landed = decide(browser, started.json()["data"]["authUrl"], **account).headers["Location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landed).query))
    if not landed.startswith(success_url) or "reason" in query:
        raise RuntimeError(f"connecting {service} failed: {query.get('reason')}")


def seed_user(api_url: str, sandbox_url: str, success_url: str, run: str, index: int) -> dict:
    uid = f"load-{run}-{index:03d}"
    id_token = requests.get(f"{sandbox_url}/identity/token", params={"uid": uid}, timeout=30).json()["idToken"]
    team, slack_user, email = f"T0LOAD{index % TEAMS}", f"U0LOAD{index:03d}", f"{uid}@example.com"
    browser = Browser()
    browser.headers["Authorization"] = f"Bearer {id_token}"
    _connect(api_url, success_url, browser, "slack", {"team_id": team, "team_name": f"Load {team}", "user_id": slack_user})
    _connect(api_url, success_url, browser, "gmail", {"email": email})
    _connect(api_url, success_url, browser, "calendar", {"email": email})
    state = firestore_client().collection("users").document(uid).collection("sync_state").document("calendar").get()
    return {
        "uid": uid,
        "idToken": id_token,
        "email": email,
        "team": team,
        "slackUser": slack_user,
        "channelId": state.get("channelId"),
        "role": "calendar" if index % 2 == 0 else "token_read",
    }


def seed_users(api_url: str, sandbox_url: str, success_url: str, run: str, count: int) -> list[dict]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda i: seed_user(api_url, sandbox_url, success_url, run, i), range(count)))
