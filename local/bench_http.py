"""HTTP latency under concurrent load, and single functions served the way the local host serves
every function (one gunicorn worker, the same threads): a bare functions-framework hello, the
yardstick the README's ratios are taken against; the floor's document get and publish served the
same way (what the I/O costs once a server makes it, before any of our code); and a token read
through the token manager."""

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


# The floor's two calls (local/bench_floor.py) made by a plain client inside a function served like
# hello: a path's figure less this one's is what the path's own code costs.
SERVED_GET = """
import functions_framework
from google.cloud import firestore

from common.platform.error_reporting import start_error_reporting
from common.platform.settings import get_settings
from local.bench_floor import FLOOR_DOCUMENT

start_error_reporting()
document = firestore.Client(project=get_settings().gcp_project).document(FLOOR_DOCUMENT)


@functions_framework.http
def served_get(request):
    document.get()
    return "got"
"""

SERVED_PUBLISH = """
import functions_framework
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.client import PublisherClient as GapicPublisher

from common.platform.error_reporting import start_error_reporting
from common.platform.settings import get_settings
from local.bench_floor import FLOOR_TOPIC

start_error_reporting()
publisher = pubsub_v1.PublisherClient()
topic = publisher.topic_path(get_settings().gcp_project, FLOOR_TOPIC)
message = pubsub_v1.types.PubsubMessage(data=b"{}")


@functions_framework.http
def served_publish(request):
    GapicPublisher.publish(publisher, topic=topic, messages=[message])
    return "published"
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


def served_get_host(folder: pathlib.Path, env: dict) -> FunctionHost:
    return FunctionHost(folder, env, "served_get", SERVED_GET)


def served_publish_host(folder: pathlib.Path, env: dict) -> FunctionHost:
    return FunctionHost(folder, env, "served_publish", SERVED_PUBLISH)


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
