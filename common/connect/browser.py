"""Replies to a browser in the OAuth flow: the state cookie (set by start, cleared by the callback)
and the callback's redirect to the app."""

import dataclasses

import flask

from common.platform.settings import get_settings


@dataclasses.dataclass(frozen=True)
class BrowserStep:
    """Where the browser goes next, and the state cookie to set (value) or clear (value None)."""

    location: str
    cookie_name: str | None = None
    cookie_value: str | None = None
    cookie_path: str = "/"


def apply_cookie(response: flask.Response, step: BrowserStep) -> flask.Response:
    """Set (value) or clear (no value) the state cookie: HttpOnly, SameSite=Lax (sent on the provider's
    top-level redirect back to us), Secure when the API is served over https."""
    settings = get_settings()
    secure = settings.public_base_url.startswith("https://")
    if step.cookie_name and step.cookie_value:
        response.set_cookie(
            step.cookie_name,
            step.cookie_value,
            max_age=int(settings.oauth_state_ttl_seconds),
            path=step.cookie_path,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
    elif step.cookie_name:
        response.delete_cookie(step.cookie_name, path=step.cookie_path, secure=secure, httponly=True, samesite="Lax")
    return response


def browser_reply(step: BrowserStep) -> flask.Response:
    response = flask.redirect(step.location, 302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the code and state stay out of Referer headers
    return apply_cookie(response, step)
