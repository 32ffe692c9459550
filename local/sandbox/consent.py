"""The consent page both providers show: scopes as ticked boxes, an account to sign in as, and
Approve / Deny. A plain form, so a test drives it with an HTTP client."""

import html
import secrets

import flask

from local.sandbox import grants
from local.sandbox.control import SandboxState

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}label{{display:block;margin:.3rem 0}}
button{{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}}</style></head>
<body><h1>{title}</h1><p>Sandbox consent page (dev only). <b>{client}</b> asks for:</p>
<form method="post" action="{action}">
<input type="hidden" name="request" value="{request_id}">
{scopes}
{account_fields}
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>"""


def show(state: SandboxState, title: str, action: str, client: str, scopes: list[str], account_fields: dict, request: dict):
    request_id = secrets.token_urlsafe(16)
    with state.lock:
        state.pending[request_id] = request
    boxes = "\n".join(
        f'<label><input type="checkbox" name="scope" value="{html.escape(s)}" checked> {html.escape(s)}</label>' for s in scopes
    )
    fields = "\n".join(
        f'<label>{html.escape(label)} <input name="{name}" value="{html.escape(value)}"></label>'
        for name, (label, value) in account_fields.items()
    )
    return PAGE.format(
        title=html.escape(title),
        action=action,
        client=html.escape(client),
        request_id=request_id,
        scopes=boxes,
        account_fields=fields,
    )


def approved_request(state: SandboxState) -> tuple[dict | None, flask.Response | None]:
    """The pending request a submitted consent form approves, or the reply for an expired request
    (400) or a denial (redirect with error=access_denied); each request is answered once."""
    form = flask.request.form
    with state.lock:
        pending = state.pending.pop(form.get("request", ""), None)
    if pending is None:
        return None, flask.make_response("This consent request expired", 400)
    if form.get("decision") != "approve":
        return None, grants.redirect_to(pending["redirect_uri"], error="access_denied", state=pending["state"])
    return pending, None
