"""The load profile of issue 9 and its targets, as data: which phase a moment of the run falls in
and the request rate wanted then. Pure, so the Locust shape and the report read the same numbers."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    start_rps: float
    end_rps: float
    min_success: float | None = None  # percent
    max_p95_ms: float | None = None
    max_p99_ms: float | None = None

    @property
    def mean_rps(self) -> float:
        return (self.start_rps + self.end_rps) / 2

    @property
    def has_targets(self) -> bool:
        return self.min_success is not None


PHASES = (
    Phase("warm-up", 60, 5, 5),
    Phase("ramp", 120, 10, 50),
    Phase("sustained", 300, 50, 50, min_success=99.9, max_p95_ms=100),
    Phase("peak", 60, 100, 100, min_success=99.9, max_p99_ms=250),
    Phase("cool-down", 60, 10, 10),
)


def scaled(scale: float) -> tuple[Phase, ...]:
    """The profile with every duration multiplied by `scale` (0.1: a one-minute run); rates unchanged."""
    return tuple(dataclasses.replace(p, seconds=p.seconds * scale) for p in PHASES)


def at(phases: tuple[Phase, ...], elapsed: float) -> tuple[Phase, float] | None:
    """The phase at `elapsed` seconds into the run and the rate wanted then; None once it is over."""
    start = 0.0
    for phase in phases:
        if elapsed < start + phase.seconds:
            progress = (elapsed - start) / phase.seconds
            return phase, phase.start_rps + (phase.end_rps - phase.start_rps) * progress
        start += phase.seconds
    return None
