"""What `make load` prints while it runs: per phase, the rate of answers so far against the
profile's rate, and the failures so far, every few seconds and once more when the phase ends. The
Locust process feeds it each request as it is answered, counted in the phase running at that moment
(the summary counts a request in the phase its scenario started in, which is known only once every
answer is in); an answer after the profile's end counts in its last phase. Pure counting, so a test
drives it without Locust."""

import dataclasses

from local.load import profile
from local.load.profile import Phase


@dataclasses.dataclass
class _Count:
    requests: int = 0
    failures: int = 0


class Progress:
    def __init__(self, phases: tuple[Phase, ...]):
        self.phases = phases
        self.starts = {}
        start = 0.0
        for phase in phases:
            self.starts[phase.name] = start
            start += phase.seconds
        self.counts = {phase.name: _Count() for phase in phases}
        self.failures = 0
        self.ended = 0  # phases whose last line was given

    def report(self, elapsed: float) -> tuple[list[str], bool]:
        """The lines to print at `elapsed` seconds into the run: the last line of each phase that ended
        since the previous report, then the current phase's; and whether the profile still runs."""
        now = profile.at(self.phases, elapsed)
        current = self.phases.index(now[0]) if now else len(self.phases)
        lines = [self.line(phase, elapsed) for phase in self.phases[self.ended : current]]
        self.ended = current
        if now:
            lines.append(self.line(now[0], elapsed))
        return lines, now is not None

    def record(self, elapsed: float, ok: bool) -> None:
        now = profile.at(self.phases, elapsed)
        count = self.counts[(now[0] if now else self.phases[-1]).name]
        count.requests += 1
        count.failures += not ok
        self.failures += not ok

    def line(self, phase: Phase, elapsed: float) -> str:
        """The phase's figures at `elapsed` seconds into the run (capped at the phase's end)."""
        within = min(max(elapsed - self.starts[phase.name], 0.0), phase.seconds)
        count = self.counts[phase.name]
        rate = count.requests / within if within > 0 else 0.0
        wanted = f"{phase.start_rps:.0f}" if phase.start_rps == phase.end_rps else f"{phase.start_rps:.0f}→{phase.end_rps:.0f}"
        done = "done" if within >= phase.seconds else f"{within:.0f}/{phase.seconds:.0f}s"
        return (
            f"[{phase.name} {done}] {rate:.1f} req/s (profile {wanted}), {count.requests} requests, "
            f"{count.failures} failed in this phase, {self.failures} failed so far"
        )
