"""Dependency probes for the health endpoints: the instance's configuration, then each dependency,
up or down, with its latency.

The endpoints are public, so the reply names nothing behind them (no error class, no topic, no
setting); a failed probe's details go to the log. With the configuration down, nothing else can be
probed (the settings name the dependencies), so only it is reported."""

import concurrent.futures
import time

from common.platform.clients import firestore_client, publisher_client
from common.platform.envelope import failure, success
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.traced_pool import submit_traced
from common.serving.config_check import instance_problems

log = get_logger(__name__)
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def _probe_firestore(timeout: float) -> None:
    firestore_client().collection("_health").document("probe").get(retry=None, timeout=timeout)


def _probe_topic(topic: str, timeout: float) -> None:
    path = publisher_client().topic_path(get_settings().gcp_project, topic)
    publisher_client().get_topic(request={"topic": path}, retry=None, timeout=timeout)


def _timed(dependency: str, details: dict, probe, *args) -> dict:
    started = time.perf_counter()
    try:
        probe(*args)
        status = "up"
    except Exception as error:
        status = "down"
        log.warning("health probe failed", extra={"fields": {"dependency": dependency, "error": type(error).__name__, **details}})
    return {"status": status, "latencyMs": round((time.perf_counter() - started) * 1000, 1)}


def _submit(*args) -> concurrent.futures.Future:
    """Run a probe on the pool in a copy of this context, so its log line keeps the request's trace."""
    return submit_traced(_pool, _timed, *args)


def health_reply(topic_setting: str):
    """200 when the configuration is valid and Firestore and the topic named by `topic_setting`
    answer, else 503 with the same body shape."""
    started = time.perf_counter()
    configuration = {"status": "down" if instance_problems("http") else "up"}
    configuration["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    dependencies = {"configuration": configuration}
    if configuration["status"] == "up":
        settings = get_settings()
        topic, timeout = getattr(settings, topic_setting), settings.health_timeout_seconds
        firestore = _submit("firestore", {}, _probe_firestore, timeout)
        pubsub = _submit("pubsub", {"topic": topic}, _probe_topic, topic, timeout)
        dependencies.update(firestore=firestore.result(), pubsub=pubsub.result())
    down = sorted(name for name, result in dependencies.items() if result["status"] != "up")
    data = {"status": "degraded" if down else "ok", "dependencies": dependencies}
    if down:
        return failure("unavailable", f"Down: {', '.join(down)}", 503, data=data)
    return success(data)
