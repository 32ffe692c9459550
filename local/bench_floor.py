"""The floor of the hot paths' I/O, measured by `make bench` in the same run: a bare document get and
a bare publish-and-wait from a plain client against the same emulators, one at a time, with that
client's own CPU per call (what no path can do without). The publish floor is the cheapest way a
plain client waits for a publish, one Publish call on the caller's thread; the batching client's
publish-and-wait (a commit thread between the caller and the call) is measured beside it. Measured a
slice at a time, between the paths' own slices (local/bench_hot.py), so all share the emulators'
state of the moment."""

import contextlib
import dataclasses
import time

from local.stats import percentile

FLOOR_TOPIC = "bench-floor"
FLOOR_DOCUMENT = "bench/floor"


@dataclasses.dataclass
class Timed:
    """One floor call's latencies (ms) and its client's CPU seconds, summed over the slices."""

    latencies: list = dataclasses.field(default_factory=list)
    cpu_seconds: float = 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.5)

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / max(len(self.latencies), 1)


@dataclasses.dataclass
class Floor:
    get: Timed
    publish: Timed
    batched_publish: Timed


class FloorClient:
    """A plain Firestore and Pub/Sub client against the stack's emulators; `slice(n)` adds n calls
    of each floor to `floor`."""

    def __init__(self):
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import firestore, pubsub_v1
        from google.pubsub_v1.services.publisher.client import PublisherClient as GapicPublisher

        from common.platform.settings import get_settings

        project = get_settings().gcp_project
        document = firestore.Client(project=project).document(FLOOR_DOCUMENT)
        document.set({"at": time.time()})
        publisher = pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_messages=1, max_latency=0.001))
        topic = publisher.topic_path(project, FLOOR_TOPIC)
        with contextlib.suppress(AlreadyExists):
            publisher.create_topic(name=topic)
        message = pubsub_v1.types.PubsubMessage(data=b"{}")
        self.calls = {
            "get": document.get,
            "publish": lambda: GapicPublisher.publish(publisher, topic=topic, messages=[message]),
            "batched_publish": lambda: publisher.publish(topic, b"{}").result(),
        }
        self.floor = Floor(Timed(), Timed(), Timed())

    def slice(self, calls: int, *, record: bool = True) -> None:
        for name, call in self.calls.items():
            timed = getattr(self.floor, name) if record else Timed()
            cpu_before = time.process_time()
            for _ in range(calls):
                started = time.perf_counter()
                call()
                timed.latencies.append((time.perf_counter() - started) * 1000)
            timed.cpu_seconds += time.process_time() - cpu_before
