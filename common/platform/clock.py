"""The one clock. Code asks `now()`; tests move time by calling `set_offset`."""

import time

_offset_seconds = 0.0


def now() -> float:
    """Seconds since the epoch, shifted by the test offset (zero in production)."""
    return time.time() + _offset_seconds


def set_offset(seconds: float) -> None:
    """Move the clock forward (or back) for every caller in this process."""
    global _offset_seconds
    _offset_seconds = seconds
