"""The whole local stack: emulators, provider sandbox, topics and push subscriptions, function
host. `make dev` runs it on fixed ports, callers talking to the functions directly; the test suite
runs it on free ones, with the host emulating API Gateway's header swap (`gateway=True`), so every
test goes through the deployed path."""

import json
import os
import pathlib
import subprocess
import sys

import requests

from common.platform.clients import GRPC_ENVIRONMENT
from common.platform.settings import APP_WEBHOOK_TYPES, PROVIDER_URL_SETTINGS
from local.catalog import ROOT, consumers, load_catalog, load_topics
from local.emulators import Emulators
from local.processes import Child, free_port, port_is_free, wait_until
from local.pubsub_setup import ensure_push_subscriptions, ensure_topics

PROJECT = "demo-gateway"
LOG_DIR = ROOT / ".local" / "logs"
START_TIMEOUT = 60
GATEWAY_ACCOUNT = f"api-gateway@{PROJECT}.iam.gserviceaccount.com"


def adopt_settings(stack: "Stack") -> None:
    """Point this process's settings, clients and cipher at the stack, for tools (bench, load) that
    read Firestore or call common code directly."""
    from common.platform.clients import reset_clients
    from common.platform.settings import SETTINGS, reset_settings
    from common.tokens.crypto import reset_cipher

    os.environ.update({s.name: stack.env[s.name] for s in SETTINGS if s.name in stack.env})
    reset_settings()
    reset_clients()
    reset_cipher()


def _require_free(port: int, setting: str) -> int:
    if not port_is_free(port):
        raise RuntimeError(f"port {port} is in use: free it or set {setting} to another port")
    return port


class Stack:
    def __init__(
        self,
        api_port: int | None = None,
        sandbox_port: int | None = None,
        firestore_port: int | None = None,
        pubsub_port: int | None = None,
        log_dir: pathlib.Path = LOG_DIR,
        extra_env: dict | None = None,
        on_start=None,
        gateway: bool = False,
        consumer_host: bool = False,
        consumer_workers: int = 1,
    ):
        """on_start(name, pid) is told of each process as it starts (make dev records them).
        consumer_host: the push subscriptions deliver to a second host serving only the consumers,
        so their CPU is not charged to what the first host serves (`make bench`), run by
        `consumer_workers` gunicorn worker processes (each one instance of a deployment's consumers)."""
        self.api_port = _require_free(api_port, "PORT") if api_port else free_port()
        self.sandbox_port = _require_free(sandbox_port, "SANDBOX_PORT") if sandbox_port else free_port()
        self.consumer_port = free_port() if consumer_host else None
        self.consumer_workers = consumer_workers
        self.children: list[Child] = []
        self.log_dir = log_dir
        self._on_start = on_start
        self.emulators = Emulators(PROJECT, log_dir, firestore_port, pubsub_port, on_start)
        try:
            self.env = {
                **os.environ,
                **self.emulators.env,
                "APP_ENV": "dev",
                "FIREBASE_CERTS_URL": f"{self.sandbox_url}/identity/certs",
                "GOOGLE_OIDC_CERTS_URL": f"{self.sandbox_url}/identity/certs",
                "SENTRY_DSN": f"http://sandbox@127.0.0.1:{self.sandbox_port}/sentry/1",
                "SECRET_MANAGER_ENDPOINT": self.sandbox_url,
                "PUBLIC_BASE_URL": self.api_url,
                "OAUTH_SUCCESS_URL": f"{self.api_url}/",
                "OAUTH_FAILURE_URL": f"{self.api_url}/",
                # The dev console and the client example name themselves as returnTo.
                "OAUTH_RETURN_ALLOWLIST": f"{self.api_url}/,{self.api_url}/docs/client-example.html",
                **{name: self.sandbox_url for name in PROVIDER_URL_SETTINGS},
                # The app's webhooks, every type, go to the sandbox's receiver (the console lists them).
                "APP_WEBHOOK_URL": f"{self.sandbox_url}/_sandbox/app-webhooks",
                "APP_WEBHOOK_EVENT_TYPES": ",".join(APP_WEBHOOK_TYPES),
                "PYTHONUNBUFFERED": "1",
                **GRPC_ENVIRONMENT,  # as Terraform sets it for every function
                **(extra_env or {}),
            }
            # Only the host's functions sit behind the (emulated) gateway; code run in other processes
            # calls them directly, as make dev does.
            # The audience: the https origin of the backend address, which here is the host itself.
            self.host_env = {
                **self.env,
                "GATEWAY_SERVICE_ACCOUNT": GATEWAY_ACCOUNT if gateway else "",
                "GATEWAY_AUDIENCE": f"https://127.0.0.1:{self.api_port}" if gateway else "",
            }
            self._start(log_dir)
        except BaseException:
            self.stop()
            raise

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def _start(self, log_dir: pathlib.Path) -> None:
        python = sys.executable
        preflight = subprocess.run(
            [python, "-m", "local.config_preflight", "--no-secret-references"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if preflight.returncode:
            raise RuntimeError(preflight.stderr.strip() or preflight.stdout.strip())
        sandbox = Child(
            "sandbox",
            [python, "-m", "local.sandbox", "--port", str(self.sandbox_port), "--project", PROJECT],
            log_dir / "sandbox.log",
            env=self.env,
            cwd=ROOT,
            on_start=self._on_start,
        )
        self.children.append(sandbox)
        wait_until(lambda: requests.get(f"{self.sandbox_url}/_sandbox/health", timeout=1).ok, START_TIMEOUT, sandbox, "sandbox")

        os.environ.update(self.emulators.env)
        catalog = load_catalog()
        ensure_topics(PROJECT, load_topics())
        self.push_url = push_url = f"http://127.0.0.1:{self.consumer_port}" if self.consumer_port else self.api_url
        ensure_push_subscriptions(PROJECT, consumers(catalog), push_url)

        host = self._host("host", [str(self.api_port), "--sandbox-url", self.sandbox_url], self.host_env)
        wait_until(
            lambda: requests.get(f"{self.api_url}/api/v1/health", timeout=5).status_code in (200, 503),
            START_TIMEOUT,
            host,
            "function host",
        )
        if self.consumer_port:
            only_consumers = log_dir / "consumers.json"
            only_consumers.write_text(json.dumps({name: catalog[name] for name in consumers(catalog)}))
            consumer_env = {**self.env, "WORKERS": str(self.consumer_workers)}
            consumer_host = self._host("consumers", [str(self.consumer_port), "--catalog", str(only_consumers)], consumer_env)
            wait_until(
                lambda: requests.get(f"{push_url}/", timeout=5).status_code == 404, START_TIMEOUT, consumer_host, "consumer host"
            )

    def _host(self, name: str, arguments: list[str], env: dict) -> Child:
        host = Child(
            name,
            [sys.executable, "-m", "local.host", "--port", *arguments],
            self.log_dir / f"{name}.log",
            env=env,
            cwd=ROOT,
            on_start=self._on_start,
        )
        self.children.append(host)
        return host

    def dead_children(self) -> list[Child]:
        return [child for child in [*self.children, *self.emulators.children] if not child.alive()]

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        self.emulators.stop()
