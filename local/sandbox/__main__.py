"""python -m local.sandbox --port 8090 --project demo-gateway"""

import argparse

from local.sandbox.app import create_sandbox_app
from local.serving import GunicornServer

SANDBOX_THREADS = 64


def main() -> None:
    parser = argparse.ArgumentParser(description="Provider sandbox (Slack, Google, Firebase issuer, Secret Manager)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--project", default="demo-gateway")
    args = parser.parse_args()
    # One worker: the sandbox's state lives in its process. Threads: each held or delayed reply
    # keeps one while it waits.
    GunicornServer(create_sandbox_app(args.project), args.port, workers=1, threads=SANDBOX_THREADS).run()


if __name__ == "__main__":
    main()
