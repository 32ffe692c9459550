"""Builds the sandbox's Flask app from its parts."""

import flask

from local.sandbox import identity, secret_manager


def create_sandbox_app(project: str) -> flask.Flask:
    app = flask.Flask("provider_sandbox")
    app.json.sort_keys = False
    identity.register(app, identity.Issuer(project))
    secret_manager.register(app)

    @app.get("/_sandbox/health")
    def sandbox_health():
        return {"ok": True}

    return app
