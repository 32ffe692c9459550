"""Conversions between the clock's epoch seconds and Firestore timestamps."""

import datetime
import time

from common.platform import clock


def utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def utcnow() -> datetime.datetime:
    return utc(clock.now())


def iso(value: datetime.datetime | None) -> str | None:
    """RFC 3339 text for replies (UTC, Z suffix), or None."""
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def ms_since(started: float) -> float:
    """Milliseconds since a time.perf_counter() reading, for duration fields."""
    return round((time.perf_counter() - started) * 1000, 1)
