"""The dev console: served by the local host beside the API, allowed to call the sandbox from the
browser, and driven end to end in headless Chromium (Debian's, see local/chromium.py): sign in,
connect Slack through the sandbox's consent page, watch a TODO become an action item (and new mail
and a calendar change arrive), disconnect; errors and card states in words.
Screenshots of each state go to test-artifacts/screenshots/; UPDATE_README_SCREENSHOT=1 also
rewrites docs/console.png."""

import os
import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, Route, expect, sync_playwright

from common.platform.clients import firestore_client
from local import chromium
from local.catalog import ROOT
from tests.conftest import ARTIFACTS
from tests.functions.test_oauth_flow import connect

SCREENSHOTS = ARTIFACTS / "screenshots"
README_SCREENSHOT = ROOT / "docs" / "console.png"
PIPELINE_MS = 20_000  # a Slack event goes through the ingress, Pub/Sub and the worker before it shows


def test_console_is_served_next_to_the_api(api, stack):
    page = api.get("/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Dev only" in page.text and "/console/console.js" in page.text
    assert api.get("/console/console.js").status_code == 200
    assert api.get("/console/config.json").json() == {"sandboxUrl": stack.sandbox_url, "consoleUrl": f"{stack.api_url}/"}
    assert api.get("/console/missing.js").status_code == 404
    assert api.get("/console/%2e%2e/console_site.py").status_code == 404
    assert api.get("/api/v1/health").status_code == 200  # the API keeps its paths


def test_the_console_opened_as_localhost_moves_to_its_own_origin(stack):
    """Opened as localhost, the page could not sign in (the sandbox answers only the console's own
    origin) nor keep the OAuth cookie across the callback: it is sent to PUBLIC_BASE_URL's host."""
    import requests

    as_localhost = stack.api_url.replace("127.0.0.1", "localhost")
    for path in ("/", "/console/console.js?v=1"):
        reply = requests.get(as_localhost + path, allow_redirects=False, timeout=10)
        assert reply.status_code == 307 and reply.headers["Location"] == stack.api_url + path
    assert requests.get(as_localhost + "/", timeout=10).url == f"{stack.api_url}/"
    assert requests.get(as_localhost + "/api/v1/health", allow_redirects=False, timeout=10).status_code == 200


def test_only_the_consoles_origin_may_call_the_sandbox_from_a_browser(sandbox, stack):
    def preflight(origin: str):
        return sandbox.options(
            "/_sandbox/slack/message",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
        )

    allowed = preflight(stack.api_url)
    assert allowed.headers["Access-Control-Allow-Origin"] == stack.api_url
    assert "Content-Type" in allowed.headers["Access-Control-Allow-Headers"]
    assert (
        sandbox.get("/identity/token", params={"uid": "a"}, headers={"Origin": stack.api_url}).headers[
            "Access-Control-Allow-Origin"
        ]
        == stack.api_url
    )
    assert "Access-Control-Allow-Origin" not in preflight("https://evil.example").headers
    assert "Access-Control-Allow-Origin" not in sandbox.get("/token", headers={"Origin": stack.api_url}).headers
    # a catalogued provider's consent form posts from the sandbox's own page; another page may not
    decide = "/_sandbox/consent/asana"
    assert sandbox.post(decide, headers={"Origin": "https://evil.example"}).status_code == 403
    assert sandbox.post(decide, headers={"Origin": stack.sandbox_url}).status_code != 403


def test_a_browser_that_cannot_be_installed_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(chromium, "EXECUTABLE", tmp_path / "chromium")
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)  # no apt-get here
    assert chromium.install() == chromium.MISSING
    assert "Debian's chromium package" in chromium.MISSING and "apt-get install chromium" in chromium.MISSING


@pytest.fixture(scope="module")
def browser():
    if not chromium.EXECUTABLE.exists():
        pytest.fail(f"{chromium.MISSING} (make test installs it: make browser)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium.EXECUTABLE), args=chromium.LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield context.new_page()
    context.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"console-{name}.png", full_page=True)


def _sign_in(page: Page, api_url: str, uid: str) -> None:
    page.goto(f"{api_url}/")
    page.get_by_label("Sign in as uid").fill(uid)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {uid}")


def _card(page: Page, name: str) -> Locator:
    return page.get_by_role("article", name=name, exact=True)


def _connect_google(page: Page, card: Locator, email: str) -> None:
    """Connect from the card on the sandbox's Google consent page, as `email`, and come back."""
    card.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_label("Account").fill(email)
    page.get_by_role("button", name="Approve").click()
    expect(card.locator(".status")).to_have_text("Connected")


def _trigger(page: Page, card: Locator, field: str, text: str, button: str, said: str) -> None:
    """Fill the card's event field, press its button, and wait for the sandbox's answer in the notice."""
    card.get_by_label(field).fill(text)
    card.get_by_role("button", name=button).click()
    expect(page.locator("#notice")).to_contain_text(said)
    expect(page.locator("#notice")).to_have_class("ok")


@pytest.mark.slow
def test_tour_connect_watch_events_arrive_and_disconnect(page, stack, flag):
    """The issue's walk-through: sign in, connect Slack, a TODO becomes an action item, disconnect;
    and on the way, new mail and a calendar change through Gmail's and Calendar's push paths."""
    key = uuid.uuid4().hex[:8]
    uid, team, email = f"console-{key}", f"T{key.upper()}", f"console-{key}@example.com"
    flag("integration_auto_sync", rollout=100)  # the push-driven syncs are on for everyone here
    _sign_in(page, stack.api_url, uid)
    slack = _card(page, "Slack")
    expect(slack.locator(".status")).to_have_text("Disconnected")
    _shot(page, "1-signed-in")

    slack.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_label("Team id").fill(team)
    page.get_by_label("Team name").fill("Console Workspace")
    page.get_by_label("User id").fill("U0CONSOLE")
    _shot(page, "2-slack-consent")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#notice")).to_have_text("Slack connected.")
    expect(slack.locator(".status")).to_have_text("Connected")
    expect(slack.locator(".account")).to_have_text(f"Console Workspace ({team}), user U0CONSOLE")
    expect(slack.locator(".scopes")).to_contain_text("channels:history")
    _shot(page, "3-slack-connected")

    _trigger(
        page, slack, "Message", "Launch prep. TODO: write the release notes by Friday", "Send Slack message", "answered HTTP 200"
    )
    expect(page.locator("#action_items")).to_contain_text("write the release notes by Friday", timeout=PIPELINE_MS)
    expect(page.locator("#slack_activity")).to_contain_text("Launch prep.")
    _shot(page, "4-action-item")

    gmail, calendar = _card(page, "Gmail"), _card(page, "Google Calendar")
    _connect_google(page, gmail, email)
    _trigger(page, gmail, "Subject", "Quarterly report", "Deliver new mail", "to the notifications topic")
    expect(page.locator("#mail")).to_contain_text("Quarterly report", timeout=PIPELINE_MS)
    _connect_google(page, calendar, email)
    _trigger(page, calendar, "Event", "Design review", "Change calendar", "notified 1 channel(s)")
    expect(page.locator("#calendar_events")).to_contain_text("Design review", timeout=PIPELINE_MS)
    _shot(page, "5-everything-connected")
    if os.environ.get("UPDATE_README_SCREENSHOT") == "1":
        page.screenshot(path=README_SCREENSHOT, full_page=True)

    slack.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#notice")).to_have_text("Slack disconnected; the grant was revoked at the provider.")
    expect(slack.locator(".status")).to_have_text("Disconnected")
    expect(page.locator("#action_items")).to_have_text("nothing yet")  # synced data goes with the connection
    _shot(page, "6-slack-disconnected")


@pytest.mark.slow
def test_errors_are_shown_in_words(page, stack, flag):
    _sign_in(page, stack.api_url, "alice")
    _card(page, "Gmail").get_by_role("button", name="Connect", exact=True).click()
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("#notice")).to_have_text(
        "Connecting Gmail failed: you (or the provider) denied access on the consent page (access_denied)."
    )
    expect(page.locator("#who")).to_contain_text("Signed in as alice")  # the sign-in survives the round trip
    expect(page).to_have_url(f"{stack.api_url}/")  # the reason is read, then taken out of the address
    _shot(page, "7-consent-denied")

    flag("integration_slack_enabled", rollout=0)
    _card(page, "Slack").get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#notice")).to_have_text("slack is not enabled for this account (feature_disabled)")  # the envelope
    _shot(page, "8-api-error")


@pytest.mark.slow
def test_cards_show_needs_reauth_and_degraded(page, stack, user):
    alice = user("alice")
    assert connect(alice, "slack")["outcome"] == connect(alice, "gmail")["outcome"] == "success"
    connections = firestore_client().collection("users").document("alice").collection("connections")
    connections.document("slack").update({"status": "needs_reauth", "statusReason": "invalid_refresh_token"})

    def gmail_failing_refreshes(route: Route) -> None:
        """A streak of failed refreshes, as the API reports it in a connection's `health`."""
        reply = route.fetch()
        body = reply.json()
        for connection in body["data"]["connections"]:
            if connection["service"] == "gmail":
                connection.update(health="degraded", consecutiveFailures=3)
        route.fulfill(response=reply, json=body)

    page.route("**/api/v1/oauth/connections", gmail_failing_refreshes)
    _sign_in(page, stack.api_url, "alice")
    slack, gmail = _card(page, "Slack"), _card(page, "Gmail")
    expect(slack.locator(".status")).to_have_text("Needs re-auth")
    expect(slack.locator(".detail")).to_contain_text(
        "Needs re-auth: the provider no longer accepts this connection's tokens (access revoked or refresh refused); "
        "reconnect (needs_reauth). Reason: Slack refused the refresh token (revoked or expired) (invalid_refresh_token)."
    )
    expect(slack.get_by_role("button", name="Reconnect")).to_be_visible()
    send = slack.get_by_role("button", name="Send Slack message")
    expect(send).to_be_disabled()
    expect(send).to_have_attribute("title", re.compile("^Reconnect Slack first"))
    expect(gmail.locator(".status")).to_have_text("Degraded")
    expect(gmail.locator(".detail")).to_contain_text("3 refreshes failed in a row.")
    expect(_card(page, "Google Calendar").locator(".status")).to_have_text("Disconnected")
    _shot(page, "9-needs-reauth-and-degraded")


@pytest.mark.slow
def test_the_proxy_box_shows_the_providers_reply(page, stack, user):
    assert connect(user("alice"), "slack")["outcome"] == "success"
    _sign_in(page, stack.api_url, "alice")
    box = page.get_by_role("region", name="Proxy")
    box.get_by_label("Call").select_option("slack")
    box.get_by_role("button", name="Send through the proxy").click()
    expect(page.locator("#proxy-status")).to_have_text("HTTP 200")
    expect(page.get_by_label("Provider reply")).to_contain_text('"name": "general"')
    box.get_by_label("Call").select_option("gmail")
    box.get_by_role("button", name="Send through the proxy").click()
    expect(page.locator("#proxy-status")).to_have_text("HTTP 404")  # not connected: the proxy's envelope
    expect(page.get_by_label("Provider reply")).to_contain_text('"not_connected"')
    _shot(page, "13-proxy-box")


def _problems(page: Page) -> list[str]:
    """Every failed response and console error the page meets from now on (a missing favicon would be one)."""
    seen: list[str] = []
    page.on("response", lambda reply: seen.append(f"{reply.status} {reply.url}") if reply.status >= 400 else None)
    page.on("console", lambda message: seen.append(message.text) if message.type == "error" else None)
    return seen


@pytest.mark.slow
def test_the_landing_page_explains_the_console_and_has_its_own_favicon(page, stack, api):
    problems = _problems(page)
    page.goto(f"{stack.api_url}/")
    landing = page.get_by_role("region", name="What this console is")
    expect(landing).to_contain_text("connects their Slack, Gmail and Google Calendar through the real OAuth flow")
    expect(landing.locator("ol.steps > li")).to_have_count(3)
    expect(landing.locator("ol.steps > li").nth(0)).to_contain_text("Sign in")
    expect(landing.locator("ol.steps > li").nth(1)).to_contain_text("Connect")
    expect(landing.locator("ol.steps > li").nth(2)).to_contain_text("Make the provider act")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    served = api.get(icon)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("image/svg+xml")
    _shot(page, "10-landing")
    _sign_in(page, stack.api_url, "alice")
    expect(landing).to_be_hidden()
    page.get_by_role("button", name="Sign out").click()
    expect(landing).to_be_visible()
    assert problems == []


@pytest.mark.slow
def test_every_disabled_button_says_why(page, stack):
    _sign_in(page, stack.api_url, "alice")
    disabled = page.locator("button:disabled")
    # each event button, nothing being connected yet, and the connect buttons of the providers whose
    # flag is off by default (Asana, Notion, Outlook mail and calendar)
    expect(disabled).to_have_count(3 + 4)
    for index in range(3 + 4):
        expect(disabled.nth(index)).to_have_attribute("title", re.compile(r"^(Connect .+ first|Off for this uid): "))


@pytest.mark.slow
def test_a_card_explains_background_sync_before_connecting(page, stack, flag):
    flag("integration_auto_sync", rollout=0, overrides={"alice": True})
    _sign_in(page, stack.api_url, "alice")
    gmail = _card(page, "Gmail")
    expect(gmail.locator(".status")).to_have_text("Disconnected")
    expect(gmail.locator(".about")).to_contain_text("Connecting starts a Gmail watch")
    expect(gmail.locator(".sync")).to_have_text("Background sync (flag integration_auto_sync) is on for this uid.")
    expect(gmail.locator(".about")).to_contain_text("this uid's own sandbox account: alice@example.com")
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, stack.api_url, "carol")
    for name in ("Gmail", "Google Calendar"):
        expect(_card(page, name).locator(".sync")).to_contain_text("Background sync is off for this uid")
    expect(_card(page, "Slack").locator(".sync")).to_be_hidden()
    _shot(page, "11-sync-off-before-connecting")


def _approve(page: Page, card: Locator) -> None:
    """Connect from the card and approve the sandbox consent page as it comes, pre-filled for the uid."""
    card.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_role("button", name="Approve").click()
    expect(card.locator(".status")).to_have_text("Connected")


@pytest.mark.slow
def test_two_uids_connect_in_turn_each_with_its_own_sandbox_accounts(page, stack, sandbox):
    for uid in ("alice", "bob"):
        accounts = sandbox.get("/_sandbox/accounts", params={"uid": uid}).json()
        _sign_in(page, stack.api_url, uid)
        slack, gmail = _card(page, "Slack"), _card(page, "Gmail")
        _approve(page, slack)
        expect(slack.locator(".account")).to_have_text(f"Sandbox Workspace (T0SANDBOX), user {accounts['slack']['userId']}")
        _approve(page, gmail)
        expect(gmail.locator(".account")).to_have_text(f"{uid}@example.com")
        page.get_by_role("button", name="Sign out").click()
    _shot(page, "12-second-uid-connected")

    _sign_in(page, stack.api_url, "carol")  # picks alice's address on purpose: still refused
    _card(page, "Gmail").get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_label("Account")).to_have_value("carol@example.com")
    page.get_by_label("Account").fill("alice@example.com")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#notice")).to_have_text(
        "Connecting Gmail failed: that account is already connected by another user; "
        "pick another on the consent page (account_in_use)."
    )


@pytest.mark.slow
def test_webhooks_delivered_to_the_sandbox_receiver_are_listed(page, stack, user):
    uid = f"console-{uuid.uuid4().hex[:8]}"
    assert connect(user(uid), "gmail", email=f"{uid}@example.com")["outcome"] == "success"
    _sign_in(page, stack.api_url, uid)
    delivered = page.locator("#app-webhooks")
    expect(delivered).to_contain_text("connection.connected", timeout=PIPELINE_MS)
    expect(delivered).to_contain_text("signature verified, answered 204")
    expect(page.locator("#app-webhooks-count")).to_have_text("(1)")


@pytest.mark.slow
def test_synced_documents_arrive_live_from_firestore_not_from_the_api(page, stack):
    """The feeds are Firestore listeners under the security rules (docs/client-example.js), not an
    API poll: with the export endpoint unreachable, a document the backend writes still appears,
    newest first, another uid's never does, and a deleted one goes."""
    from common.platform.timeutil import utcnow

    exports: list[str] = []
    page.route("**/api/v1/me/export", lambda route: (exports.append(route.request.url), route.abort()))
    key = uuid.uuid4().hex[:8]
    uid, other = f"live-{key}", f"other-{key}"
    _sign_in(page, stack.api_url, uid)
    users = firestore_client().collection("users")
    users.document(other).collection("action_items").document("o").set({"text": "Not yours", "createdAt": utcnow()})
    items = users.document(uid).collection("action_items")
    items.document("a").set({"text": "Older item", "createdAt": utcnow()})
    items.document("b").set({"text": "Newer item", "createdAt": utcnow()})
    users.document(uid).collection("slack_activity").document("s").set(
        {"type": "message", "text": "Live activity", "recordedAt": utcnow()}
    )
    feed = page.locator("#action_items > li")
    expect(feed).to_have_count(2)
    expect(feed.nth(0)).to_contain_text("Newer item")
    expect(feed.nth(1)).to_contain_text("Older item")
    expect(page.locator("#action_items-count")).to_have_text("(2)")
    expect(page.locator("#slack_activity")).to_contain_text("Live activity")
    items.document("b").delete()
    expect(feed).to_have_count(1)
    expect(page.locator("#action_items")).not_to_contain_text("Not yours")
    assert exports == []


@pytest.mark.slow
def test_the_cards_are_the_catalogues_and_a_new_provider_connects_from_its_card(page, stack, flag):
    """Asana, Notion and Outlook come from the catalogue: a card each, off until the uid's flag is
    on; then connect through the sandbox's consent page and disconnect, with what revoking did."""
    uid = f"cards-{uuid.uuid4().hex[:8]}"
    flag("integration_asana_enabled", rollout=0, overrides={uid: True})
    flag("integration_microsoft_enabled", rollout=0, overrides={uid: True})
    _sign_in(page, stack.api_url, uid)
    names = ["Slack", "Gmail", "Google Calendar", "Asana", "Notion", "Outlook Mail", "Outlook Calendar"]
    expect(page.locator("#cards article")).to_have_count(len(names))
    for name in names:
        expect(_card(page, name)).to_be_visible()
    notion = _card(page, "Notion")
    expect(notion.get_by_role("button", name="Connect", exact=True)).to_be_disabled()
    expect(notion.locator(".detail")).to_contain_text("feature flag is off")
    asana = _card(page, "Asana")
    expect(asana.locator(".trigger")).to_be_hidden()  # the sandbox sends no Asana events
    expect(asana.locator(".about")).to_contain_text("/api/v1/proxy/asana/")
    _approve(page, asana)
    expect(asana.locator(".account")).to_have_text(f"{uid}@example.com")
    asana.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#notice")).to_have_text("Asana disconnected; the grant was revoked at the provider.")
    mail = _card(page, "Outlook Mail")
    _approve(page, mail)
    mail.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#notice")).to_contain_text("Outlook Mail disconnected; Microsoft has no endpoint")
    _shot(page, "14-catalogue-cards")


def test_a_card_lists_a_further_account_and_disconnects_it_alone(page, stack, flag):
    """Several accounts of one service: "Add another account" opens the consent page with nothing
    preselected; the account typed there becomes a connection of its own, listed under the card's
    first one with a Disconnect of its own."""
    uid = f"multi-{uuid.uuid4().hex[:8]}"
    flag("integration_asana_enabled", rollout=0, overrides={uid: True})
    _sign_in(page, stack.api_url, uid)
    asana = _card(page, "Asana")
    expect(asana.get_by_role("button", name="Add another account")).to_be_hidden()
    _approve(page, asana)
    asana.get_by_role("button", name="Add another account").click()
    page.get_by_label("Account").fill(f"{uid}-work@example.com")
    page.get_by_role("button", name="Approve").click()
    expect(asana.locator(".others")).to_have_text(f"{uid}-work@example.com (Connected) Disconnect")
    expect(asana.locator(".account")).to_have_text(f"{uid}@example.com")
    _shot(page, "15-several-accounts")
    asana.get_by_role("button", name=f"Disconnect {uid}-work@example.com").click()
    expect(page.locator("#notice")).to_have_text("Asana disconnected; the grant was revoked at the provider.")
    expect(asana.locator(".others")).to_be_hidden()
    expect(asana.locator(".account")).to_have_text(f"{uid}@example.com")
