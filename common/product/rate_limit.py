"""Per-instance token buckets: each key (a user, a Slack workspace, a Calendar channel) may spend
`burst` requests at once and regains `per_minute` a minute. Over the limit: 429 `rate_limited` with
Retry-After. Per instance by design: no shared store on the hot path; the deployed ceiling is the
per-instance rate times `max_instances` (functions.json), and the README says so."""

import threading
from collections import OrderedDict

from common.platform import clock
from common.platform.errors import RateLimited
from common.platform.settings import get_settings

MAX_KEYS = 10_000  # least recently used keys beyond this are forgotten (a new key starts full)


class Limiter:
    def __init__(self):
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)

    def spend(self, key: str, per_minute: float, burst: float) -> None:
        now = clock.now()
        with self._lock:
            tokens, last = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * per_minute / 60)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                raise RateLimited("Too many requests; retry later", retry_after=(1 - tokens) * 60 / per_minute)
            self._buckets[key] = (tokens - 1, now)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


_limiter = Limiter()


def limit_user(uid: str) -> None:
    settings = get_settings()
    _limiter.spend(f"user:{uid}", settings.rate_limit_user_per_minute, settings.rate_limit_user_burst)


def limit_webhook(source: str) -> None:
    settings = get_settings()
    _limiter.spend(f"webhook:{source}", settings.rate_limit_webhook_per_minute, settings.rate_limit_webhook_burst)


def limit_proxy(uid: str, connection_id: str) -> None:
    """A proxied call: the connection's budget, then the user's own proxy budget (every service and
    connection together, whoever calls for them). A call the connection's budget refuses spends none of the user's."""
    settings = get_settings()
    _limiter.spend(
        f"proxy-connection:{uid}:{connection_id}",
        settings.rate_limit_proxy_connection_per_minute,
        settings.rate_limit_proxy_connection_burst,
    )
    _limiter.spend(f"proxy-user:{uid}", settings.rate_limit_proxy_user_per_minute, settings.rate_limit_proxy_user_burst)


def reset() -> None:
    _limiter.reset()
