"""Slack request signing (v0), as a pure check: HMAC-SHA256 over `v0:{timestamp}:{raw body}` with
the signing secret, compared in constant time, within five minutes of now. Fails closed."""

import hashlib
import hmac
import re

from common.platform.errors import Unauthenticated

VERSION = "v0"
MAX_SKEW_SECONDS = 300
# Checked before use: str.isdigit() admits "²" and other digits int() refuses, and
# hmac.compare_digest() refuses non-ASCII text. Anything else is not a signature we could have made.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(rf"{VERSION}=[0-9a-f]{{64}}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(headers, body: bytes, secret: str, now: float) -> None:
    """Raise Unauthenticated unless the request carries a valid, current Slack signature.
    `headers` must look names up case-insensitively (werkzeug's do)."""
    if not secret:
        raise Unauthenticated("Slack signing secret is not configured", code="invalid_signature")
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise Unauthenticated("Missing Slack signature headers", code="invalid_signature")
    if not TIMESTAMP.fullmatch(timestamp):
        raise Unauthenticated("Malformed Slack request timestamp", code="invalid_signature")
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Unauthenticated("Slack request timestamp is too old or in the future", code="stale_request")
    if not SIGNATURE.fullmatch(signature) or not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise Unauthenticated("Slack signature does not match", code="invalid_signature")
