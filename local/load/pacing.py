"""When each simulated user of `make load` starts its next scenario: one every `period` seconds, on
a phase of its own (a random point of the first period). Locust's constant_throughput counts from
the user's creation instead, so the users one step of the shape creates start their scenarios in
the same instant every period however their first start is spread: the profile's 50 requests a
second arrived as 100 at once every 2 s, and the latencies measured the bursts' queue."""

import math
import random
import time


class Pacing:
    def __init__(self, period: float, clock=time.monotonic, rng: random.Random | None = None):
        self.period, self._clock = period, clock
        self._due = clock() + (rng or random).uniform(0, period)

    def wait(self) -> float:
        """Seconds until the next scenario's start, which then moves a period on. A user behind
        starts at once and its next start is the first of its own slots after now: missed slots are
        skipped, not made up for with a burst, and users held up together (a stall) do not come
        back on one shared phase."""
        now = self._clock()
        wait = max(0.0, self._due - now)
        self._due += self.period
        if self._due <= now:
            self._due += self.period * math.ceil((now - self._due) / self.period)
        return wait
