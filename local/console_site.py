"""The dev console's files, served by the local host at `/` and `/console/...` next to the API, so
the page and the API share one origin (no CORS, and the OAuth state cookie is first-party).
Dev only: it lives in local/, and function bundles are built from functions/ and common/ alone."""

import json
import pathlib
import urllib.parse

from werkzeug.exceptions import HTTPException
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

CONSOLE_DIR = pathlib.Path(__file__).resolve().parent / "console"
PREFIX = "/console/"


def serves(path: str) -> bool:
    return path == "/" or path.startswith(PREFIX)


def console_app(sandbox_url: str, console_url: str):
    """A WSGI app for the console. `config.json` tells the page where the sandbox is (its sign-in
    and event triggers) and the one URL OAuth may return to (PUBLIC_BASE_URL's `/`)."""
    config = json.dumps({"sandboxUrl": sandbox_url, "consoleUrl": console_url})
    console_host = urllib.parse.urlsplit(console_url).netloc

    @Request.application
    def app(request: Request) -> Response:
        if request.method != "GET":
            return Response("Method not allowed", 405)
        if request.host != console_host:
            # Opened as localhost:8080: the sandbox lets only the console's own origin sign in, and
            # OAuth comes back to PUBLIC_BASE_URL, whose cookies another host name would not see.
            target = urllib.parse.urljoin(console_url, request.full_path.rstrip("?"))
            return Response(status=307, headers={"Location": target, "Cache-Control": "no-store"})
        if request.path == PREFIX + "config.json":
            return Response(config, mimetype="application/json", headers={"Cache-Control": "no-store"})
        name = "index.html" if request.path == "/" else request.path.removeprefix(PREFIX)
        try:
            response = send_from_directory(CONSOLE_DIR, name, request.environ)
        except HTTPException as error:  # a missing file, or a path outside the folder
            return error.get_response()
        response.headers["Cache-Control"] = "no-cache"
        return response

    return app
