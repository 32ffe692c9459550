"""Conversions between the clock's epoch seconds and Firestore timestamps."""

import datetime

from common import clock


def utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def utcnow() -> datetime.datetime:
    return utc(clock.now())


def iso(value: datetime.datetime | None) -> str | None:
    """RFC 3339 text for replies (UTC, Z suffix), or None."""
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
