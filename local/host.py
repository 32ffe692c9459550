"""The local function host: every function of the catalog loaded by functions-framework (the
server Cloud Functions runs) and mounted in one process. HTTP functions answer at their public
paths, as behind the API front door; Pub/Sub consumers at /_pubsub/<name>, where the emulator's
push subscriptions deliver. With a sandbox, it also serves the dev console at `/` and the API
reference and the client example at `/docs` (local/docs_site.py). When the
functions expect API Gateway in front (GATEWAY_SERVICE_ACCOUNT is set), HTTP functions get their
requests with the gateway's header swap (local/gateway_front.py), as deployed.

python -m local.host --port 8080 [--sandbox-url http://127.0.0.1:8090]
"""

import argparse
import json
import os
import pathlib
import re

import functions_framework
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule

from common.platform.settings import get_settings
from common.serving.config_check import configuration_problems
from local import console_site, docs_site, op_counts
from local.catalog import CATALOG_PATH, FUNCTIONS_DIR, load_catalog
from local.config_preflight import exit_on_problems
from local.gateway_front import GatewayFront
from local.serving import GunicornServer

PUSH_PREFIX = "/_pubsub/"


def _werkzeug_path(public_path: str) -> str:
    """An OpenAPI path template as a werkzeug rule: {name} is one segment, {name=**} (API Gateway's
    double wildcard) the rest of the path, slashes included."""
    return re.sub(r"\{(\w+)\}", r"<\1>", re.sub(r"\{(\w+)=\*\*\}", r"<path:\1>", public_path))


def create_host_app(
    catalog: dict,
    functions_dir=FUNCTIONS_DIR,
    console=None,
    front: GatewayFront | None = None,
    count_ops: bool = False,
    docs=None,
):
    apps, rules = {}, []
    for name, spec in catalog.items():
        apps[name] = functions_framework.create_app(spec["entry_point"], str(functions_dir / name / "main.py"))
        for route in spec.get("http", {}).get("routes", []):
            rules.append(Rule(_werkzeug_path(route["path"]), endpoint=name, methods=[*route["methods"], "OPTIONS"]))
        if "pubsub" in spec:
            rules.append(Rule(PUSH_PREFIX + name, endpoint=name, methods=["POST"]))
    url_map = Map(rules, strict_slashes=False)

    def dispatch(environ, start_response):
        if console is not None and console_site.serves(environ.get("PATH_INFO", "")):
            return console(environ, start_response)
        if docs is not None and docs_site.serves(environ.get("PATH_INFO", "")):
            return docs(environ, start_response)
        if count_ops and environ.get("PATH_INFO") == op_counts.OPS_PATH:
            return op_counts.ops_app(environ, start_response)
        try:
            name, _ = url_map.bind_to_environ(environ).match()
        except MethodNotAllowed:
            return _envelope(start_response, "405 Method Not Allowed", "method_not_allowed", "Method not allowed")
        except HTTPException:
            return _envelope(start_response, "404 Not Found", "not_found", "No function answers at this path")
        if front is not None and "http" in catalog[name]:
            front.forward(environ)
        return apps[name](environ, start_response)

    return dispatch


def _envelope(start_response, status: str, code: str, message: str):
    body = json.dumps({"success": False, "error": {"code": code, "message": message}}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every function of the catalog on one port")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--catalog", type=pathlib.Path, default=CATALOG_PATH, help="function catalog (benchmarks serve their own)"
    )
    parser.add_argument("--functions-dir", type=pathlib.Path, default=FUNCTIONS_DIR)
    parser.add_argument("--sandbox-url", help="the provider sandbox's URL: also serve the dev console, which uses it, and /docs")
    args = parser.parse_args()
    exit_on_problems(configuration_problems())
    count_ops = os.environ.get("HOST_COUNT_OPS") == "1"
    if count_ops:
        op_counts.install()
    settings = get_settings()
    if settings.gateway_service_account and not args.sandbox_url:
        parser.error("GATEWAY_SERVICE_ACCOUNT is set: the gateway emulation needs --sandbox-url (its token issuer)")
    console = console_site.console_app(args.sandbox_url, f"{settings.public_base_url}/") if args.sandbox_url else None
    front = (
        GatewayFront(args.sandbox_url, settings.gateway_service_account, settings.gateway_audience)
        if settings.gateway_service_account
        else None
    )
    docs = docs_site.docs_app(args.sandbox_url) if args.sandbox_url else None
    app = create_host_app(load_catalog(args.catalog), args.functions_dir, console, front, count_ops, docs)
    # functions-framework's production settings: one worker (WORKERS for more), threaded.
    threads = int(os.environ.get("THREADS", (os.cpu_count() or 1) * 4))
    GunicornServer(app, args.port, workers=int(os.environ.get("WORKERS", 1)), threads=threads).run()


if __name__ == "__main__":
    main()
