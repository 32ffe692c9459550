"""Cold start: from starting a host process that serves one function to its first answered request,
for every function of the catalog and for the bare hello, measured the same way. The first request
is one the function answers without side effects: its route without credentials (a 4xx from the
function itself), or for a Pub/Sub consumer a push whose data is not JSON (acknowledged and dropped).
gunicorn loads the function before its worker accepts, so the first answer includes the imports."""

import json
import pathlib
import statistics
import sys
import time

import requests

from local.bench_http import HELLO
from local.catalog import FUNCTIONS_DIR, ROOT
from local.processes import Child, free_port

UNDECODABLE_PUSH = json.dumps(
    {
        "message": {"data": "bm90IGpzb24=", "messageId": "cold-start", "publishTime": "2026-01-01T00:00:00Z"},
        "subscription": "projects/demo-gateway/subscriptions/cold-start",
    }
)
HOST_ANSWERS = ("not_found", "method_not_allowed")  # the host's own replies: the function was not reached


def _first_request(name: str, spec: dict, port: int) -> requests.Response:
    base = f"http://127.0.0.1:{port}"
    if "pubsub" in spec:
        return requests.post(
            f"{base}/_pubsub/{name}", data=UNDECODABLE_PUSH, headers={"Content-Type": "application/json"}, timeout=60
        )
    route = spec["http"]["routes"][0]
    path = route["path"].replace("{service}", "slack")
    return requests.request(route["methods"][0], base + path, timeout=60, allow_redirects=False)


def _answered(reply: requests.Response) -> bool:
    try:
        code = reply.json().get("error", {}).get("code")
    except ValueError:
        code = None
    return reply.status_code < 500 and code not in HOST_ANSWERS


def cold_start_ms(name: str, spec: dict, functions_dir: pathlib.Path, folder: pathlib.Path, env: dict) -> float:
    catalog = folder / f"cold-{name}.json"
    catalog.write_text(json.dumps({name: spec}))
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "local.host",
        "--port",
        str(port),
        "--catalog",
        str(catalog),
        "--functions-dir",
        str(functions_dir),
    ]
    started = time.perf_counter()
    child = Child(name, argv, folder / f"cold-{name}.log", env=env, cwd=ROOT)
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            try:
                reply = _first_request(name, spec, port)
            except requests.ConnectionError:  # not listening yet
                time.sleep(0.005)
                continue
            if not _answered(reply):
                raise RuntimeError(f"{name} answered its first request with {reply.status_code}: {reply.text[:200]}")
            return (time.perf_counter() - started) * 1000
        raise RuntimeError(f"{name} did not answer within 60 s:\n{child.log_tail()}")
    finally:
        child.stop()


def bench_cold_starts(catalog: dict, folder: pathlib.Path, env: dict, runs: int) -> list[tuple[str, str, float, float]]:
    """(function, kind, median ms, fastest ms) for the bare hello first, then every function."""
    (folder / "hello").mkdir(parents=True, exist_ok=True)
    (folder / "hello" / "main.py").write_text(HELLO)
    hello = {"entry_point": "hello", "http": {"routes": [{"path": "/hello", "methods": ["GET"]}]}}
    targets = [("hello", hello, folder), *((name, spec, FUNCTIONS_DIR) for name, spec in catalog.items())]
    rows = []
    for name, spec, functions_dir in targets:
        times = [cold_start_ms(name, spec, functions_dir, folder, env) for _ in range(runs)]
        rows.append((name, "pubsub" if "pubsub" in spec else "http", statistics.median(times), min(times)))
        print(f"  cold start {name}: {statistics.median(times):.0f} ms", flush=True)
    return rows
