"""python -m local.sandbox --port 8090 --project demo-gateway"""

import argparse

from werkzeug.serving import make_server

from local.sandbox.app import create_sandbox_app
from local.signals import stop_on_signals


def main() -> None:
    parser = argparse.ArgumentParser(description="Provider sandbox (Slack, Google, Firebase issuer, Secret Manager)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--project", default="demo-gateway")
    args = parser.parse_args()
    server = make_server("127.0.0.1", args.port, create_sandbox_app(args.project), threaded=True)
    stop_on_signals(server.shutdown)
    server.serve_forever()


if __name__ == "__main__":
    main()
