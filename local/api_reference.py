"""The API reference at `/docs` on the dev host: Swagger UI (npm's swagger-ui-dist, which
`make node-packages` installs into node_modules/) rendering infra/openapi.json, the very document
the API Gateway is deployed from. Dev only, like the console: it lives in local/ and node_modules/,
and function bundles are built from functions/ and common/ alone."""

from werkzeug.exceptions import HTTPException
from werkzeug.utils import send_file, send_from_directory
from werkzeug.wrappers import Request, Response

from local.catalog import ROOT
from local.node_packages import MODULES

PREFIX = "/docs"
SPEC_URL = f"{PREFIX}/openapi.json"
SPEC = ROOT / "infra" / "openapi.json"
SWAGGER_UI = MODULES / "swagger-ui-dist"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")
NOT_INSTALLED = "Swagger UI is not installed in node_modules/: run make node-packages"

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


@Request.application
def reference_app(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return Response("Method not allowed", 405)
    if request.path in (PREFIX, PREFIX + "/"):
        return Response(PAGE, mimetype="text/html", headers={"Cache-Control": "no-cache"})
    if request.path == SPEC_URL:
        return send_file(SPEC, request.environ, mimetype="application/json", max_age=0)
    name = request.path.removeprefix(PREFIX + "/")
    if name not in ASSETS:
        return Response("Not found", 404)
    if not SWAGGER_UI.is_dir():
        return Response(NOT_INSTALLED, 503, mimetype="text/plain")
    try:
        return send_from_directory(SWAGGER_UI, name, request.environ, max_age=0)
    except HTTPException as error:  # a package without that file
        return error.get_response()
