"""Secret Manager's `versions.access` over REST, for the secrets a test stores with PUT.

As in Secret Manager, `versions/latest` is an alias of the version created last, so a test can add
versions while functions run (a key rotation). Each access is counted (`secretmanager.access` in
/_sandbox/calls) and can be given a fault."""

import base64

import flask

from local.sandbox.control import SandboxState, provider_route

_NAME = "projects/<project>/secrets/<secret>/versions/<version>"


def register(app: flask.Flask, state: SandboxState) -> None:
    versions: dict[str, dict[str, bytes]] = {}  # secret name -> its versions, in the order they were put

    @app.put("/_sandbox/secrets/<project>/<secret>/<version>")
    def put_secret(project, secret, version):
        if version == "latest":
            return flask.jsonify({"error": "latest is an alias; put a numbered version"}), 400
        stored = versions.setdefault(f"projects/{project}/secrets/{secret}", {})
        stored.pop(version, None)
        stored[version] = flask.request.get_data()
        return "", 204

    @app.get(f"/v1/{_NAME}:access")
    @provider_route(state, "secretmanager.access")
    def access_secret_version(project, secret, version):
        stored = versions.get(f"projects/{project}/secrets/{secret}") or {}
        if version == "latest" and stored:
            version = list(stored)[-1]  # the answer names the version it resolved to, as Google's does
        name = f"projects/{project}/secrets/{secret}/versions/{version}"
        if version not in stored:
            return flask.jsonify(
                {"error": {"code": 404, "message": f"Secret [{name}] not found or has no versions.", "status": "NOT_FOUND"}}
            ), 404
        return flask.jsonify({"name": name, "payload": {"data": base64.b64encode(stored[version]).decode()}})
