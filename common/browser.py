"""Replies that send a browser on (the OAuth hop and callback): a 302 plus the state cookie."""

import dataclasses

import flask

from common.settings import get_settings


@dataclasses.dataclass(frozen=True)
class BrowserStep:
    """Where the browser goes next, and the state cookie to set (value) or clear (value None)."""

    location: str
    cookie_name: str | None = None
    cookie_value: str | None = None
    cookie_path: str = "/"


def browser_reply(step: BrowserStep) -> flask.Response:
    settings = get_settings()
    response = flask.redirect(step.location, 302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the code and state stay out of Referer headers
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
