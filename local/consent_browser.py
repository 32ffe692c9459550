"""Driving the OAuth flow as a browser would: the signed-in user's browser calls start (and keeps
its state cookie), follows authUrl to the sandbox's consent page, submits it, and follows the
redirect to our callback. Used by the tests and by `make load`'s seeding."""

import re
import urllib.parse

import requests


class Browser(requests.Session):
    """A cookie jar that never follows redirects by itself, so each hop can be checked."""

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        kwargs["allow_redirects"] = False  # Session.get would default it to True
        return super().request(method, url, *args, **kwargs)


def consent_page(browser: Browser, auth_url: str) -> tuple[str, dict, list[str]]:
    """Follow authUrl to the consent page: (form action URL, hidden and account fields, scopes)."""
    page = browser.get(auth_url)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input (?:type="hidden" )?name="(\w+)" value="([^"]*)"', page.text))
    scopes = re.findall(r'name="scope" value="([^"]+)"', page.text)
    return urllib.parse.urljoin(auth_url, action), fields, scopes


def decide(browser: Browser, auth_url: str, decision: str = "approve", untick: tuple = (), **account) -> requests.Response:
    """Consent (or deny) and follow the provider's redirect to our callback; returns the callback's reply."""
    action, fields, scopes = consent_page(browser, auth_url)
    form = {**fields, **account, "decision": decision, "scope": [s for s in scopes if s not in untick]}
    to_callback = browser.post(action, data=form)
    assert to_callback.status_code == 302, to_callback.text
    return browser.get(to_callback.headers["Location"])


def callback_url(browser: Browser, auth_url: str, **account) -> str:
    """Approve at the provider but stop before our callback: the callback URL with code and state."""
    action, fields, scopes = consent_page(browser, auth_url)
    reply = browser.post(action, data={**fields, **account, "decision": "approve", "scope": scopes})
    return reply.headers["Location"]
