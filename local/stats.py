"""Percentiles for `make bench` and `make load`, defined once so their figures compare."""

import math


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(len(ordered) * fraction - 1e-9))  # 1e-9: 0.95 * 100 must be rank 95, not 96
    return ordered[rank - 1]
