"""Dependency probes for the health endpoints: each dependency up or down, with its latency."""

import concurrent.futures
import time

from common.clients import firestore_client, publisher_client
from common.envelope import failure, success
from common.settings import get_settings

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def _probe_firestore(timeout: float) -> None:
    firestore_client().collection("_health").document("probe").get(retry=None, timeout=timeout)


def _probe_topic(topic: str, timeout: float) -> None:
    path = publisher_client().topic_path(get_settings().gcp_project, topic)
    publisher_client().get_topic(request={"topic": path}, retry=None, timeout=timeout)


def _timed(probe, *args) -> dict:
    started = time.perf_counter()
    try:
        probe(*args)
        result = {"status": "up"}
    except Exception as error:
        result = {"status": "down", "error": type(error).__name__}
    result["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def health_reply(topic: str):
    """200 when Firestore and the given Pub/Sub topic answer, else 503 with the same body shape."""
    timeout = get_settings().health_timeout_seconds
    firestore = _pool.submit(_timed, _probe_firestore, timeout)
    pubsub = _pool.submit(_timed, _probe_topic, topic, timeout)
    dependencies = {"firestore": firestore.result(), "pubsub": {**pubsub.result(), "topic": topic}}
    down = sorted(name for name, result in dependencies.items() if result["status"] != "up")
    data = {"status": "degraded" if down else "ok", "dependencies": dependencies}
    if down:
        return failure("unavailable", f"Down: {', '.join(down)}", 503, data=data)
    return success(data)
