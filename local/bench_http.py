"""HTTP latency under concurrent load, and single functions served the way the local host serves
every function (one gunicorn worker, the same threads): a bare functions-framework hello, the
yardstick the README's ratios are taken against, and a token read through the token manager."""

import concurrent.futures
import json
import pathlib
import sys
import textwrap
import threading
import time

import requests

from local.op_counts import OPS_PATH
from local.processes import Child, free_port, wait_until
from local.stats import percentile

# Error reporting started as every function of the stack starts it (common/serving/http.py), so hello pays
# for it too.
HELLO = """
import functions_framework

from common.platform.error_reporting import start_error_reporting

start_error_reporting()


@functions_framework.http
def hello(request):
    return "hello"
"""


# The token manager's read alone (one Firestore read, one AES-GCM decryption) behind the same server
# as hello: no endpoint hands out tokens, so this function exists only in the benchmark.
TOKEN_READ = """
import functions_framework

from common.tokens.reader import get_access_token


@functions_framework.http
def token_read(request):
    get_access_token(request.args["uid"], request.args["service"])
    return "read"
"""


class FunctionHost:
    """A host process serving one function, written from `source`, at /<name>."""

    def __init__(self, folder: pathlib.Path, env: dict, name: str, source: str):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "main.py").write_text(textwrap.dedent(source))
        catalog = folder / f"{name}.json"
        catalog.write_text(
            json.dumps({name: {"entry_point": name, "http": {"routes": [{"path": f"/{name}", "methods": ["GET"]}]}}})
        )
        self.name = name
        self.port = free_port()
        self.child = Child(
            name,
            [
                sys.executable,
                "-m",
                "local.host",
                "--port",
                str(self.port),
                "--catalog",
                str(catalog),
                "--functions-dir",
                str(folder),
            ],
            folder / f"{name}.log",
            env=env,
            cwd=pathlib.Path(__file__).resolve().parent.parent,
        )
        wait_until(lambda: requests.get(self.url, timeout=2).status_code > 0, 60, self.child, f"{name} host")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.name}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{OPS_PATH}"

    def stop(self) -> None:
        self.child.stop()


def hello_host(folder: pathlib.Path, env: dict) -> FunctionHost:
    return FunctionHost(folder, env, "hello", HELLO)


def token_read_host(folder: pathlib.Path, env: dict) -> FunctionHost:
    return FunctionHost(folder, env, "token_read", TOKEN_READ)


def measure(send, requests_total: int, concurrency: int) -> dict:
    """Run send(session, i) -> status code from `concurrency` threads; latencies in ms, each
    answered request's under "latencies"."""
    local = threading.local()
    latencies, failures = [], []

    def one(i):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        started = time.perf_counter()
        status = send(session, i)
        elapsed = (time.perf_counter() - started) * 1000
        (latencies if 200 <= status < 300 else failures).append(elapsed)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests_total)))
    seconds = time.perf_counter() - started
    return {
        "ok": len(latencies),
        "failed": len(failures),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "rps": len(latencies) / seconds,
        "seconds": seconds,
        "latencies": latencies,
    }
