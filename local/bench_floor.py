"""The floor of the hot paths' I/O, measured by `make bench` in the same run: a bare document get and
a bare publish-and-wait from a plain client against the same emulators, one at a time, with that
client's own CPU per call (what no path can do without). The publish floor is the cheapest way a
plain client waits for a publish, one Publish call on the caller's thread; the batching client's
publish-and-wait (a commit thread between the caller and the call) is measured beside it."""

import contextlib
import dataclasses
import time

from local.stats import percentile

CALLS = 300
FLOOR_TOPIC = "bench-floor"


@dataclasses.dataclass
class Floor:
    get_ms: float
    get_cpu_ms: float
    publish_ms: float
    publish_cpu_ms: float
    batched_publish_ms: float
    batched_publish_cpu_ms: float


def _timed(call) -> tuple[float, float]:
    call()  # connect first
    latencies, cpu_before = [], time.process_time()
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return percentile(latencies, 0.5), (time.process_time() - cpu_before) * 1000 / CALLS


def measure_floor() -> Floor:
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import firestore, pubsub_v1
    from google.pubsub_v1.services.publisher.client import PublisherClient as GapicPublisher

    from common.platform.settings import get_settings

    project = get_settings().gcp_project
    document = firestore.Client(project=project).collection("bench").document("floor")
    document.set({"at": time.time()})
    publisher = pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_messages=1, max_latency=0.001))
    topic = publisher.topic_path(project, FLOOR_TOPIC)
    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(name=topic)
    get_ms, get_cpu = _timed(document.get)
    message = pubsub_v1.types.PubsubMessage(data=b"{}")
    publish_ms, publish_cpu = _timed(lambda: GapicPublisher.publish(publisher, topic=topic, messages=[message]))
    batched_ms, batched_cpu = _timed(lambda: publisher.publish(topic, b"{}").result())
    return Floor(get_ms, get_cpu, publish_ms, publish_cpu, batched_ms, batched_cpu)
