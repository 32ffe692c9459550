"""The dev console is served by the API host, an origin other than the sandbox's, and calls the
sandbox from the browser: the ID-token issuer (to sign in) and the control endpoints (to make the
providers produce events). Those paths allow exactly the console's origin, PUBLIC_BASE_URL's: CORS
lets the console read the answers, and any request from another page's origin is refused before it
runs (CORS alone would not stop a simple cross-site POST), so no other page a developer has open
can steer the sandbox. The sandbox's own pages (the catalogued providers' consent forms, posted to
/_sandbox/consent/<family>) are its own origin."""

import urllib.parse

import flask

PATHS = ("/identity/token", "/_sandbox/")


def register(app: flask.Flask, console_url: str) -> None:
    parts = urllib.parse.urlsplit(console_url)
    console_origin = f"{parts.scheme}://{parts.netloc}"

    @app.before_request
    def refuse_other_pages():
        origin = flask.request.headers.get("Origin")
        own = flask.request.host_url.rstrip("/")  # the sandbox's own pages: a consent page's form
        if origin and origin not in (console_origin, own) and flask.request.path.startswith(PATHS):
            return flask.jsonify({"error": "only the dev console may call the sandbox from a browser"}), 403
        return None

    @app.after_request
    def allow_the_console(response: flask.Response) -> flask.Response:
        request = flask.request
        if request.headers.get("Origin") == console_origin and request.path.startswith(PATHS):
            response.headers["Access-Control-Allow-Origin"] = console_origin
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers.add("Vary", "Origin")
        return response
