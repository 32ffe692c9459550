"""HTTP latency under concurrent load, and a bare functions-framework hello served the same way
(one gunicorn worker, the same threads) as the yardstick the README's ratios are taken against."""

import concurrent.futures
import json
import pathlib
import sys
import textwrap
import threading
import time

import requests

from local.processes import Child, free_port, wait_until

HELLO = """
import functions_framework


@functions_framework.http
def hello(request):
    return "hello"
"""


class HelloHost:
    """A host process serving only the bare hello function at /hello."""

    def __init__(self, folder: pathlib.Path, env: dict):
        (folder / "hello").mkdir(parents=True, exist_ok=True)
        (folder / "hello" / "main.py").write_text(textwrap.dedent(HELLO))
        catalog = folder / "catalog.json"
        catalog.write_text(
            json.dumps({"hello": {"entry_point": "hello", "http": {"routes": [{"path": "/hello", "methods": ["GET"]}]}}})
        )
        self.port = free_port()
        self.child = Child(
            "hello",
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
            folder / "hello.log",
            env=env,
            cwd=pathlib.Path(__file__).resolve().parent.parent,
        )
        wait_until(lambda: requests.get(self.url, timeout=2).ok, 60, self.child, "hello host")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hello"

    def stop(self) -> None:
        self.child.stop()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(send, requests_total: int, concurrency: int) -> dict:
    """Run send(session, i) -> status code from `concurrency` threads; latencies in ms."""
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
    }
