"""A provider added to a copy of the catalogue, and nothing else: a host started on that copy
(PROVIDER_CATALOGUE) connects it through the sandbox's consent page, refreshes its token, proxies
a call with it and disconnects it, with no code change. The new service, `tasks`, is a family of
its own (`acme`) that speaks Google's wire format, so the sandbox's Google endpoints can play it."""

import copy
import datetime
import json
import sys

import pytest
import requests

from common.platform.clients import firestore_client
from common.providers.catalogue import BUILT_IN
from local.catalog import ROOT
from local.consent_browser import decide
from local.processes import Child, free_port, wait_until
from tests.conftest import BaseUrlSession
from tests.oauth_helpers import landed

START_SECONDS = 60


def _catalogue_with_tasks() -> dict:
    catalogue = json.loads(BUILT_IN.read_text())
    catalogue["families"]["acme"] = copy.deepcopy(catalogue["families"]["google"])
    catalogue["services"]["tasks"] = {
        "family": "acme",
        "display_name": "Acme Tasks",
        "icon": "🗂️",
        "flag": "integration_google_enabled",
        "scopes_setting": "GMAIL_SCOPES",
        "api_base": "{gmail}/gmail/v1/",
        "api_paths": [],
        "api_headers": {},
        "synced_collections": [],
    }
    return catalogue


@pytest.fixture
def tasks_host(stack, tmp_path):
    """A second function host on the same emulators and sandbox, reading the extended catalogue."""
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(_catalogue_with_tasks()))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**stack.env, "PROVIDER_CATALOGUE": str(path), "PUBLIC_BASE_URL": url, "OAUTH_RETURN_ALLOWLIST": ""}
    argv = [sys.executable, "-m", "local.host", "--port", str(port)]
    host = Child("tasks-host", argv, tmp_path / "host.log", env=env, cwd=ROOT)
    try:
        wait_until(lambda: requests.get(f"{url}/api/v1/health", timeout=5).status_code in (200, 503), START_SECONDS, host)
        yield url
    finally:
        host.stop()


def test_a_provider_added_to_the_catalogue_connects_refreshes_proxies_and_disconnects(tasks_host, id_token, sandbox):
    dana = BaseUrlSession(tasks_host)
    dana.headers["Authorization"] = f"Bearer {id_token('dana')}"
    started = dana.get("/api/v1/oauth/tasks/start")
    assert started.status_code == 200, started.text
    assert landed(decide(dana, started.json()["data"]["authUrl"], email="dana@example.com"))["outcome"] == "success"

    status = dana.get("/api/v1/oauth/tasks/status").json()["data"]
    assert status["connected"] is True and status["account"] == {"email": "dana@example.com"}
    assert [c["service"] for c in dana.get("/api/v1/oauth/connections").json()["data"]["connections"]] == ["tasks"]

    connection = firestore_client().collection("users").document("dana").collection("connections").document("tasks")
    connection.update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)})
    sandbox.delete("/_sandbox/calls")
    labels = dana.get("/api/v1/proxy/tasks/users/me/labels")
    assert labels.status_code == 200 and "INBOX" in labels.text
    assert sandbox.get("/_sandbox/calls").json().get("google.token") == 1  # the expired token refreshed once
    assert connection.get().to_dict()["expiresAt"] > datetime.datetime.now(datetime.UTC)

    escaped = dana.get("/api/v1/proxy/tasks/../calendar/v3/users/me/calendarList")
    assert escaped.status_code in (400, 404) and escaped.json()["success"] is False  # the catalogue's api_base bounds it

    gone = dana.delete("/api/v1/oauth/tasks/disconnect").json()["data"]
    assert gone["wasConnected"] is True and gone["revoked"] is True
    assert not connection.get().exists
    assert dana.get("/api/v1/oauth/tasks/status").json()["data"]["connected"] is False
