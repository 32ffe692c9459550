"""`/docs` on the dev host: the API reference, Swagger UI (npm's swagger-ui-dist, which
`make node-packages` installs into node_modules/) rendering infra/openapi.json, the very document
the API Gateway is deployed from; and the client example (docs/client-example.*) with make dev's
addresses. Dev only, like the console: it lives in local/, docs/ and node_modules/, and function
bundles are built from functions/ and common/ alone."""

import json
import os

from werkzeug.exceptions import HTTPException
from werkzeug.utils import send_file, send_from_directory
from werkzeug.wrappers import Request, Response

from common.platform.settings import get_settings
from local.catalog import ROOT
from local.node_packages import MODULES

PREFIX = "/docs"
SPEC_URL = f"{PREFIX}/openapi.json"
SPEC = ROOT / "infra" / "openapi.json"
SWAGGER_UI = MODULES / "swagger-ui-dist"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")
EXAMPLE = ("client-example.html", "client-example.js")
EXAMPLE_CONFIG = f"{PREFIX}/client-example.json"
# The Firebase SDK's CDN modules (the npm package carries them), which the example's import map
# points at, so make dev runs it offline.
FIREBASE_PREFIX = f"{PREFIX}/firebase/"
FIREBASE_MODULES = ("firebase-app.js", "firebase-firestore.js")
NOT_INSTALLED = "The npm packages are not installed in node_modules/: run make node-packages"

# The document's `schemes` are the deployed gateway's (https); "Try it out" here calls the dev host,
# whatever scheme and port the page was opened on.
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>API reference: OAuth &amp; webhook gateway</title>
  <link rel="stylesheet" href="{PREFIX}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{PREFIX}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{SPEC_URL}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      requestInterceptor: (request) => {{
        request.url = request.url.replace(/^https?:\\/\\/[^/]+/, window.location.origin);
        return request;
      }},
    }});
  </script>
</body>
</html>
"""


def serves(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def docs_app(sandbox_url: str):
    """A WSGI app for /docs. The example's config names the project and the Firestore emulator the
    functions use, and the sandbox, whose token issuer stands in for Firebase Auth."""
    config = {
        "projectId": get_settings().gcp_project,
        "firestoreEmulatorHost": os.environ.get("FIRESTORE_EMULATOR_HOST", ""),
        "sandboxUrl": sandbox_url,
    }

    @Request.application
    def app(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("Method not allowed", 405)
        if request.path in (PREFIX, PREFIX + "/"):
            return Response(PAGE, mimetype="text/html", headers={"Cache-Control": "no-cache"})
        if request.path == SPEC_URL:
            return send_file(SPEC, request.environ, mimetype="application/json", max_age=0)
        if request.path == EXAMPLE_CONFIG:
            return Response(json.dumps(config), mimetype="application/json", headers={"Cache-Control": "no-store"})
        if request.path.startswith(FIREBASE_PREFIX):
            return _node_module(MODULES / "firebase", request.path.removeprefix(FIREBASE_PREFIX), FIREBASE_MODULES, request)
        name = request.path.removeprefix(PREFIX + "/")
        if name in EXAMPLE:
            return send_from_directory(ROOT / "docs", name, request.environ, max_age=0)
        return _node_module(SWAGGER_UI, name, ASSETS, request)

    return app


def _node_module(folder, name: str, allowed: tuple[str, ...], request: Request) -> Response:
    if name not in allowed:
        return Response("Not found", 404)
    if not folder.is_dir():
        return Response(NOT_INSTALLED, 503, mimetype="text/plain")
    try:
        return send_from_directory(folder, name, request.environ, max_age=0)
    except HTTPException as error:  # a package without that file
        return error.get_response()
