"""/docs on the dev host: the API reference (Swagger UI's page pointing at /docs/openapi.json,
which is infra/openapi.json byte for byte, rendered in headless Chromium with its operations), and
the client example, driven in Chromium against the stack's Firestore emulator under the rules."""

import contextlib
import json
import re
import uuid

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from common.platform.clients import firestore_client
from common.platform.timeutil import utcnow
from local import chromium, docs_site
from local.catalog import ROOT
from local.node_packages import MODULES

LIVE_MS = 30_000  # a listener's first snapshot, over the emulator's web channel on a busy machine


def test_docs_is_a_swagger_ui_page_referencing_the_spec(api):
    for path in ("/docs", "/docs/"):
        page = api.get(path)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert 'url: "/docs/openapi.json"' in page.text
        assert '<script src="/docs/swagger-ui-bundle.js">' in page.text
        assert '<link rel="stylesheet" href="/docs/swagger-ui.css">' in page.text


def test_the_spec_url_serves_infra_openapi_json(api):
    spec = api.get("/docs/openapi.json")
    assert spec.status_code == 200 and spec.headers["Content-Type"].startswith("application/json")
    assert spec.content == docs_site.SPEC.read_bytes()
    assert json.loads(spec.content)["swagger"] == "2.0"


def test_swagger_ui_assets_come_from_node_modules_and_nothing_else_is_served(api):
    bundle = api.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.content == (docs_site.SWAGGER_UI / "swagger-ui-bundle.js").read_bytes()
    assert api.get("/docs/swagger-ui.css").headers["Content-Type"].startswith("text/css")
    sdk = api.get("/docs/firebase/firebase-firestore.js")
    assert sdk.status_code == 200 and sdk.headers["Content-Type"].startswith("text/javascript")
    assert sdk.content == (MODULES / "firebase" / "firebase-firestore.js").read_bytes()
    for path in (
        "/docs/package.json",
        "/docs/firebase/firebase-auth.js",
        "/docs/firebase/package.json",
        "/docs/../infra/openapi.json",
        "/docs/%2e%2e/package.json",
        "/docs/index.html",
    ):
        assert api.get(path).status_code == 404, path
    assert api.post("/docs/openapi.json").status_code == 405


def test_without_node_modules_the_page_says_how_to_install_it(monkeypatch, tmp_path):
    from werkzeug.test import Client

    monkeypatch.setattr(docs_site, "SWAGGER_UI", tmp_path / "swagger-ui-dist")
    reply = Client(docs_site.docs_app("http://sandbox.test")).get("/docs/swagger-ui-bundle.js")
    assert reply.status_code == 503 and reply.text == docs_site.NOT_INSTALLED
    assert "run make node-packages" in reply.text


@contextlib.contextmanager
def _browser():
    """Debian's Chromium, which make test installs, under Playwright."""
    if not chromium.EXECUTABLE.exists():
        pytest.fail(f"{chromium.MISSING} (make test installs it: make browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium.EXECUTABLE), args=chromium.LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_the_browser_renders_the_operations_of_the_spec(stack):
    with _browser() as browser:
        page = browser.new_page()
        page.goto(f"{stack.api_url}/docs")
        expect(page.locator(".info .title")).to_contain_text("OAuth & webhook gateway")
        expect(page.locator(".opblock-summary-path", has_text="/api/v1/oauth/{service}/start")).to_have_count(1)
        expect(page.locator(".opblock")).to_have_count(len(_operations()))


def _operations() -> list[str]:
    paths = json.loads(docs_site.SPEC.read_text())["paths"]
    return [method for methods in paths.values() for method in methods if method != "parameters"]


def _signed_in(browser, stack, uid: str, left: list[str]) -> Page:
    """The example's page signed in as `uid`; what it asks of the internet is refused and noted in
    `left` (the import map sends the SDK's CDN modules to the dev host)."""

    def refuse(route: Route) -> None:
        left.append(route.request.url)
        route.abort()

    page = browser.new_context().new_page()
    page.route("https://**", refuse)
    page.goto(f"{stack.api_url}/docs/client-example.html")
    page.get_by_label("Sign in as uid").fill(uid)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text(f"Signed in as {uid}")
    return page


def test_the_client_example_imports_the_installed_firebase_version():
    installed = json.loads((MODULES / "firebase" / "package.json").read_text())["version"]
    for name in docs_site.EXAMPLE:
        versions = set(re.findall(r"gstatic\.com/firebasejs/([\d.]+)/", (ROOT / "docs" / name).read_text()))
        assert versions == {installed}, name


def test_the_client_example_config_names_make_devs_project_emulator_and_sandbox(api, stack):
    assert api.get("/docs/client-example.json").json() == {
        "projectId": stack.emulators.project,
        "firestoreEmulatorHost": stack.emulators.firestore_host,
        "sandboxUrl": stack.sandbox_url,
    }


def test_the_client_example_lists_the_users_own_data_live_and_starts_a_connection(stack):
    with _browser() as browser:
        left = []
        # Users of this test's own: other tests' syncs and erasures act on shared names like "alice".
        alice_uid, bob_uid = f"alice{uuid.uuid4().hex[:8]}", f"bob{uuid.uuid4().hex[:8]}"
        users = firestore_client().collection("users")
        # Alice's mail is there before she signs in (her first snapshot), her action item comes after (live).
        users.document(alice_uid).collection("mail").document("m").set(
            {"from": "carol@example.com", "subject": "Lunch?", "internalDate": 1}
        )
        alice, bob = _signed_in(browser, stack, alice_uid, left), _signed_in(browser, stack, bob_uid, left)
        for page in (alice, bob):
            for name in ("Action items", "Mail"):  # each listener's first snapshot is in
                expect(page.get_by_role("list", name=name)).to_have_attribute("aria-busy", "false", timeout=LIVE_MS)
        users.document(alice_uid).collection("action_items").document("a").set({"text": "Send the report", "createdAt": utcnow()})
        users.document(bob_uid).collection("action_items").document("b").set({"text": "Bob's own", "createdAt": utcnow()})
        expect(alice.get_by_role("list", name="Action items")).to_have_text("Send the report", timeout=LIVE_MS)
        expect(alice.get_by_role("list", name="Mail")).to_have_text("carol@example.com: Lunch?", timeout=LIVE_MS)
        expect(bob.get_by_role("list", name="Action items")).to_have_text("Bob's own", timeout=LIVE_MS)
        expect(bob.get_by_role("list", name="Mail")).to_have_text("")
        expect(alice.locator("#error")).to_have_text("")
        alice.get_by_role("button", name="Connect Slack").click()
        alice.wait_for_url(f"{stack.sandbox_url}/**")  # the sandbox's Slack consent page
        assert left == []
