"""The API reference at /docs on the dev host: Swagger UI's page pointing at /docs/openapi.json,
which is infra/openapi.json byte for byte, and rendered in headless Chromium with its operations."""

import json

import pytest
from playwright.sync_api import expect, sync_playwright

from local import api_reference, chromium


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
    assert spec.content == api_reference.SPEC.read_bytes()
    assert json.loads(spec.content)["swagger"] == "2.0"


def test_swagger_ui_assets_come_from_node_modules_and_nothing_else_is_served(api):
    bundle = api.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.content == (api_reference.SWAGGER_UI / "swagger-ui-bundle.js").read_bytes()
    assert api.get("/docs/swagger-ui.css").headers["Content-Type"].startswith("text/css")
    for path in ("/docs/package.json", "/docs/../infra/openapi.json", "/docs/%2e%2e/package.json", "/docs/index.html"):
        assert api.get(path).status_code == 404, path
    assert api.post("/docs/openapi.json").status_code == 405


def test_without_node_modules_the_page_says_how_to_install_it(monkeypatch, tmp_path):
    from werkzeug.test import Client

    monkeypatch.setattr(api_reference, "SWAGGER_UI", tmp_path / "swagger-ui-dist")
    reply = Client(api_reference.reference_app).get("/docs/swagger-ui-bundle.js")
    assert reply.status_code == 503 and reply.text == "Swagger UI is not installed in node_modules/: run make node-packages"


def test_the_browser_renders_the_operations_of_the_spec(stack):
    if not chromium.EXECUTABLE.exists():
        pytest.fail(f"{chromium.MISSING} (make test installs it: make browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium.EXECUTABLE), args=chromium.LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{stack.api_url}/docs")
            expect(page.locator(".info .title")).to_contain_text("OAuth & webhook gateway")
            expect(page.locator(".opblock-summary-path", has_text="/api/v1/oauth/{service}/start")).to_have_count(1)
            expect(page.locator(".opblock")).to_have_count(len(_operations()))
        finally:
            browser.close()


def _operations() -> list[str]:
    paths = json.loads(api_reference.SPEC.read_text())["paths"]
    return [method for methods in paths.values() for method in methods if method != "parameters"]
