"""Post-deploy smoke test: a handful of requests any deployer can run against the public gateway to
know the deployment answers as it should. One PASS or FAIL line per check, exit status 1 if any
failed. Secrets and tokens are never printed.

    python -m local.smoke --base-url https://<gateway host> --id-token <Firebase ID token> \\
        --slack-signing-secret <secret>        (or BASE_URL, ID_TOKEN, SLACK_SIGNING_SECRET)

Instead of an ID token it can sign a test user in (--firebase-api-key, --email, --password, or
FIREBASE_API_KEY, SMOKE_USER_EMAIL, SMOKE_USER_PASSWORD), through Firebase Auth's REST API:
https://firebase.google.com/docs/reference/rest/auth#section-sign-in-email-password

It needs only `requests`, so it runs from a bare Python image (Cloud Build's smoke step). `make test`
runs it against the local stack behind the gateway emulation (tests/local/test_smoke.py).
"""

import argparse
import json
import os
import pathlib
import secrets
import sys
import time
import urllib.parse
from collections.abc import Callable

import requests

from common.webhooks.slack_signature import sign

MANIFEST = pathlib.Path(__file__).resolve().parent.parent / "infra" / "slack-app-manifest.json"
SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SIGN_IN_URL = "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword"
TIMEOUT = 30


class Failed(Exception):
    """A check's finding, shown on its FAIL line."""


class Smoke:
    def __init__(self, args: argparse.Namespace, id_token: str):
        self.base = args.base_url.rstrip("/")
        self.public_base = (args.public_base_url or args.base_url).rstrip("/")
        self.args = args
        self.session = requests.Session()
        self.bearer = {"Authorization": f"Bearer {id_token}"}

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs)

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        found = [
            ("health", lambda: self.health("/api/v1/health")),
            ("webhooks health", lambda: self.health("/api/v1/webhooks/health")),
            ("no token refused", self.no_token_refused),
            ("authenticated call", self.authenticated_call),
            ("slack url_verification", self.slack_url_verification),
            ("slack bad signature refused", self.slack_bad_signature_refused),
        ]
        found += [(f"oauth start {service}", lambda s=service: self.oauth_start(s)) for service in self.args.services]
        return found

    def health(self, path: str) -> str:
        reply = self.get(path)
        dependencies = _data(reply).get("dependencies", {})
        down = sorted(name for name, probe in dependencies.items() if probe.get("status") != "up")
        if reply.status_code != 200 or down:
            raise Failed(f"{reply.status_code}, down: {', '.join(down) or 'none listed'}")
        return ", ".join(f"{name} {probe.get('latencyMs')} ms" for name, probe in sorted(dependencies.items()))

    def no_token_refused(self) -> str:
        reply = self.get("/api/v1/me")
        if reply.status_code != 401:
            raise Failed(f"GET /api/v1/me without a token answered {reply.status_code}, not 401")
        return "401"

    def authenticated_call(self) -> str:
        reply = self.get("/api/v1/me", headers=self.bearer)
        uid = _data(reply).get("uid")
        if reply.status_code != 200 or not uid:
            raise Failed(f"GET /api/v1/me answered {reply.status_code}: {_error(reply)}")
        return f"uid {uid}"

    def _slack_post(self, secret: str, challenge: str) -> requests.Response:
        body = json.dumps({"token": "smoke", "challenge": challenge, "type": "url_verification"}).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, body),
        }
        return self.session.post(f"{self.base}/api/v1/webhooks/slack/events", data=body, headers=headers, timeout=TIMEOUT)

    def slack_url_verification(self) -> str:
        challenge = secrets.token_urlsafe(16)
        reply = self._slack_post(self.args.slack_signing_secret, challenge)
        if reply.status_code != 200 or _json(reply).get("challenge") != challenge:
            raise Failed(f"answered {reply.status_code}: {_error(reply)} (is the signing secret the Slack app's?)")
        return "challenge echoed"

    def slack_bad_signature_refused(self) -> str:
        reply = self._slack_post(secrets.token_hex(16), secrets.token_urlsafe(16))
        if reply.status_code != 401:
            raise Failed(f"a request signed with another secret answered {reply.status_code}, not 401")
        return "401"

    def oauth_start(self, service: str) -> str:
        reply = self.get(f"/api/v1/oauth/{service}/start", headers=self.bearer)
        data = _data(reply)
        if reply.status_code != 200 or not data.get("authUrl"):
            raise Failed(f"answered {reply.status_code}: {_error(reply)}")
        url = urllib.parse.urlsplit(data["authUrl"])
        params = dict(urllib.parse.parse_qsl(url.query))
        slack = service == "slack"
        expected = {
            "state": data.get("state"),
            "redirect_uri": f"{self.public_base}/api/v1/oauth/{service}/callback",
            **({} if slack else {"response_type": "code", "code_challenge_method": "S256", "access_type": "offline"}),
        }
        wrong = [
            f"{name}={params.get(name)!r} (expected {value!r})" for name, value in expected.items() if params.get(name) != value
        ]
        authorize = self.args.slack_authorize_url if slack else self.args.google_authorize_url
        if f"{url.scheme}://{url.netloc}{url.path}" != authorize:
            wrong.append(f"consent page {url.scheme}://{url.netloc}{url.path} (expected {authorize})")
        if not params.get("client_id"):
            wrong.append(f"client_id={params.get('client_id')!r}")
        scopes = params.get("user_scope" if slack else "scope", "")
        if not scopes or (not slack and not params.get("code_challenge")):
            wrong.append("no scopes or no PKCE challenge")
        if slack and MANIFEST.exists():
            declared = set(json.loads(MANIFEST.read_text())["oauth_config"]["scopes"]["user"])
            wrong += [f"scope {scope} is not in the Slack app manifest" for scope in scopes.split(",") if scope not in declared]
        if "set-cookie" not in reply.headers:
            wrong.append("no state cookie")
        if wrong:
            raise Failed("; ".join(wrong))
        return f"{url.netloc}, scopes {scopes}"


def _json(reply: requests.Response) -> dict:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _data(reply: requests.Response) -> dict:
    data = _json(reply).get("data")
    return data if isinstance(data, dict) else {}


def _error(reply: requests.Response) -> str:
    error = _json(reply).get("error")
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    return reply.text[:200] or "(empty body)"


def sign_in(api_key: str, email: str, password: str) -> str:
    """A Firebase ID token for a test user with a password (Firebase Auth REST API)."""
    reply = requests.post(
        SIGN_IN_URL,
        params={"key": api_key},
        json={"email": email, "password": password, "returnSecureToken": True},
        timeout=TIMEOUT,
    )
    token = _json(reply).get("idToken")
    if reply.status_code != 200 or not token:
        message = (_json(reply).get("error") or {}).get("message", reply.status_code)
        raise Failed(f"Firebase sign-in of {email} failed: {message}")
    return token


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Smoke-test a deployed gateway")
    parser.add_argument("--base-url", default=env("BASE_URL"), help="the gateway's public URL (BASE_URL)")
    parser.add_argument("--public-base-url", default=env("PUBLIC_BASE_URL"), help="PUBLIC_BASE_URL, when not the base URL")
    parser.add_argument("--id-token", default=env("ID_TOKEN"), help="a Firebase ID token of a test user (ID_TOKEN)")
    parser.add_argument("--firebase-api-key", default=env("FIREBASE_API_KEY"), help="or sign in: the Web API key")
    parser.add_argument("--email", default=env("SMOKE_USER_EMAIL"), help="the test user's email (SMOKE_USER_EMAIL)")
    parser.add_argument("--password", default=env("SMOKE_USER_PASSWORD"), help="its password (SMOKE_USER_PASSWORD)")
    parser.add_argument("--slack-signing-secret", default=env("SLACK_SIGNING_SECRET"), help="(SLACK_SIGNING_SECRET)")
    parser.add_argument("--slack-authorize-url", default=env("SLACK_AUTHORIZE_URL", SLACK_AUTHORIZE_URL))
    parser.add_argument("--google-authorize-url", default=env("GOOGLE_AUTHORIZE_URL", GOOGLE_AUTHORIZE_URL))
    parser.add_argument(
        "--services", default=env("SMOKE_SERVICES", "slack,gmail,calendar"), type=lambda raw: [s for s in raw.split(",") if s]
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    signs_in = args.firebase_api_key and args.email and args.password
    if not args.base_url or not args.slack_signing_secret or not (args.id_token or signs_in):
        parser.error("needs --base-url, --slack-signing-secret and --id-token (or --firebase-api-key, --email, --password)")
    try:
        token = args.id_token or sign_in(args.firebase_api_key, args.email, args.password)
    except (Failed, requests.RequestException) as error:
        print(f"FAIL sign-in: {error if isinstance(error, Failed) else type(error).__name__}")
        return 1
    failed, checks = 0, Smoke(args, token).checks()
    for name, check in checks:
        try:
            print(f"PASS {name}: {check()}", flush=True)
        except Failed as finding:
            failed += 1
            print(f"FAIL {name}: {finding}", flush=True)
        except requests.RequestException as error:
            failed += 1
            print(f"FAIL {name}: {type(error).__name__} (is {args.base_url} reachable?)", flush=True)
    print(f"{'FAILED' if failed else 'OK'}: {failed} of {len(checks)} checks failed against {args.base_url}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
