"""Secret Manager's `versions.access` over REST, for the secrets a test stores with PUT."""

import base64

import flask

_NAME = "projects/<project>/secrets/<secret>/versions/<version>"


def register(app: flask.Flask) -> None:
    stored: dict[str, bytes] = {}

    @app.put("/_sandbox/secrets/<project>/<secret>/<version>")
    def put_secret(project, secret, version):
        stored[f"projects/{project}/secrets/{secret}/versions/{version}"] = flask.request.get_data()
        return "", 204

    @app.get(f"/v1/{_NAME}:access")
    def access_secret_version(project, secret, version):
        name = f"projects/{project}/secrets/{secret}/versions/{version}"
        if name not in stored:
            return flask.jsonify(
                {"error": {"code": 404, "message": f"Secret [{name}] not found or has no versions.", "status": "NOT_FOUND"}}
            ), 404
        return flask.jsonify({"name": name, "payload": {"data": base64.b64encode(stored[name]).decode()}})
