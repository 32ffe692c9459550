"""Per-instance token buckets, and the 429 envelope with Retry-After they produce."""

import functions_framework
import pytest

from common.platform import clock
from common.platform.errors import RateLimited
from common.product import rate_limit
from local.catalog import FUNCTIONS_DIR


def test_a_bucket_allows_the_burst_then_refills_at_the_rate():
    limiter = rate_limit.Limiter()
    try:
        for _ in range(3):
            limiter.spend("k", per_minute=60, burst=3)
        with pytest.raises(RateLimited) as limited:
            limiter.spend("k", per_minute=60, burst=3)
        assert 0 < limited.value.retry_after <= 1
        limiter.spend("other", per_minute=60, burst=3)  # keys are independent
        clock.set_offset(1.01)  # 60 a minute: one token a second
        limiter.spend("k", per_minute=60, burst=3)
        with pytest.raises(RateLimited):
            limiter.spend("k", per_minute=60, burst=3)
    finally:
        clock.set_offset(0)


def test_old_keys_are_forgotten_beyond_the_bound(monkeypatch):
    monkeypatch.setattr(rate_limit, "MAX_KEYS", 2)
    limiter = rate_limit.Limiter()
    for key in ("a", "b", "c"):
        limiter.spend(key, per_minute=60, burst=1)
    limiter.spend("a", per_minute=60, burst=1)  # "a" was evicted, so it starts full again


def test_a_user_over_the_limit_gets_429_in_the_envelope(stack, id_token, rate_limits):
    rate_limits(RATE_LIMIT_USER_BURST="2", RATE_LIMIT_USER_PER_MINUTE="6")
    client = functions_framework.create_app("me", str(FUNCTIONS_DIR / "me" / "main.py")).test_client()
    headers = {"Authorization": f"Bearer {id_token('carol')}"}
    assert [client.get("/", headers=headers).status_code for _ in range(2)] == [200, 200]
    limited = client.get("/", headers=headers)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= 10
    assert client.get("/", headers={"Authorization": f"Bearer {id_token('dave')}"}).status_code == 200
