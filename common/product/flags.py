"""Feature flags and A/B experiments.

Flags (`feature_flags/{name}`: `rollout` 0-100 and per-user `overrides`) are evaluated by consistent
hashing of (flag, subject): a subject keeps its answer as long as the rollout does not cross its
bucket, and a rollout of N% enables N% of subjects (within ±2 points over 10,000, tested).
Experiments (`experiments/{name}`: weighted `variants`) assign by the same hashing, and the first
assignment is stored (`users/{uid}/experiment_assignments/{name}`), so it sticks even if weights
change later. Serving a variant records an exposure (`users/{uid}/experiment_exposures/{name}`);
both are created in a transaction guarded by the erasure fence (common/stores/erasures.py).
Definitions are read through a per-instance cache (`FLAGS_CACHE_SECONDS`), never per request;
documents missing from Firestore fall back to the defaults below, which `seed()` writes.
"""

import contextlib
import hashlib
import threading
import time

from google.api_core.exceptions import AlreadyExists

from common.platform.clients import firestore_client
from common.platform.errors import Forbidden
from common.platform.logs import get_logger
from common.platform.settings import get_settings
from common.platform.timeutil import utcnow
from common.providers import provider
from common.stores import erasures
from common.stores.connections import USERS

log = get_logger(__name__)
FLAGS = "feature_flags"
EXPERIMENTS = "experiments"
DEFAULT_FLAGS = {
    "integration_slack_enabled": 100,
    "integration_google_enabled": 100,
    "integration_asana_enabled": 0,
    "integration_notion_enabled": 0,
    "integration_microsoft_enabled": 0,
    "integration_webhooks_enabled": 100,
    "integration_auto_sync": 50,
    "integration_advanced_permissions": 0,
}
DEFAULT_EXPERIMENTS = {
    "oauth_flow_optimization": [("control", 50), ("optimized", 50)],
    "provider_onboarding_ux": [("standard", 33), ("guided", 33), ("video", 34)],
}
AUTO_SYNC_FLAG = "integration_auto_sync"  # gates the background (push-driven) Gmail and Calendar syncs


def bucket(name: str, subject: str) -> float:
    """A stable point in [0, 100) for (name, subject)."""
    digest = hashlib.sha256(f"{name}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


def _read_definitions() -> tuple[dict, dict]:
    client = firestore_client()
    return (
        {d.id: d.to_dict() for d in client.collection(FLAGS).stream()},
        {d.id: d.to_dict() for d in client.collection(EXPERIMENTS).stream()},
    )


class _Definitions:
    """Every flag and experiment document, at most FLAGS_CACHE_SECONDS old. Once loaded, an expired
    cache is served while one background thread reads the new definitions, so no request waits for
    the reload (under a lock, every flagged request would stall at each expiry). Nothing loaded yet,
    or a cache of 0 s, reads in the request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._refreshing = False
        self._snapshot: tuple[dict, dict] = ({}, {})  # (flags, experiments), replaced whole

    @property
    def flags(self) -> dict:
        return self._snapshot[0]

    @property
    def experiments(self) -> dict:
        return self._snapshot[1]

    def current(self) -> "_Definitions":
        max_age = get_settings().flags_cache_seconds
        if time.monotonic() - self._loaded_at < max_age:
            return self
        if max_age <= 0 or self._loaded_at == float("-inf"):
            with self._lock:
                if time.monotonic() - self._loaded_at >= max_age:
                    self._load()
            return self
        with self._lock:
            if self._refreshing:
                return self
            self._refreshing = True
        threading.Thread(target=self._refresh, name="flags-refresh", daemon=True).start()
        return self

    def _load(self) -> None:
        self._snapshot = _read_definitions()
        self._loaded_at = time.monotonic()

    def _refresh(self) -> None:
        try:
            self._load()
        except Exception as error:  # the old definitions stay in use; the next expired read tries again
            log.warning("flag definitions not refreshed", extra={"fields": {"error": type(error).__name__}})
        finally:
            self._refreshing = False

    def forget(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")


_definitions = _Definitions()


def reset_cache() -> None:
    _definitions.forget()


def is_enabled(flag: str, subject: str) -> bool:
    """The flag for a subject (a uid, or a Slack team id for webhook ingestion): override, else rollout."""
    definition = _definitions.current().flags.get(flag) or {"rollout": DEFAULT_FLAGS.get(flag, 0)}
    overrides = definition.get("overrides") or {}
    if subject in overrides:
        return bool(overrides[subject])
    return bucket(flag, subject) < float(definition.get("rollout", 0))


def require_service_enabled(uid: str, service: str) -> None:
    if not is_enabled(provider(service).flag, uid):
        raise Forbidden(f"{service} is not enabled for this account", code="feature_disabled")


def _variants(experiment: str) -> list[tuple[str, float]]:
    definition = _definitions.current().experiments.get(experiment)
    if definition and definition.get("variants"):
        return [(v["name"], float(v["weight"])) for v in definition["variants"]]
    return DEFAULT_EXPERIMENTS[experiment]


def _pick(experiment: str, uid: str) -> str:
    variants = _variants(experiment)
    point = bucket(experiment, uid) * sum(weight for _, weight in variants) / 100
    for name, weight in variants:
        if point < weight:
            return name
        point -= weight
    return variants[-1][0]


def variant(uid: str, experiment: str) -> str:
    """The user's variant, assigned once and kept; serving it records the exposure. Once both are
    stored this is one read; until then one fenced transaction (UserErased while the user's erasure runs)."""
    user = firestore_client().collection(USERS).document(uid)
    assignment = user.collection("experiment_assignments").document(experiment)
    exposure = user.collection("experiment_exposures").document(experiment)
    read = {snapshot.reference.path: snapshot for snapshot in firestore_client().get_all([assignment, exposure])}
    if read[assignment.path].exists and read[exposure.path].exists:
        return read[assignment.path].get("variant")

    def assign(transaction, current) -> str:
        now, stored = utcnow(), current[assignment.path]
        chosen = stored.get("variant") if stored.exists else _pick(experiment, uid)
        if not stored.exists:
            transaction.create(assignment, {"variant": chosen, "assignedAt": now})
        if not current[exposure.path].exists:
            transaction.create(exposure, {"variant": chosen, "firstExposedAt": now})
        return chosen

    return erasures.write(uid, None, assign, [assignment, exposure])


def evaluate_all(uid: str) -> dict:
    """What GET /api/v1/flags shows the signed-in user."""
    names = sorted(set(DEFAULT_FLAGS) | set(_definitions.current().flags))
    return {
        "flags": {name: is_enabled(name, uid) for name in names},
        "experiments": {
            name: variant(uid, name) for name in sorted(set(DEFAULT_EXPERIMENTS) | set(_definitions.current().experiments))
        },
    }


def seed() -> None:
    """Write the default flags and experiments that are missing (existing ones are left as they are)."""
    client = firestore_client()
    for name, rollout in DEFAULT_FLAGS.items():
        with contextlib.suppress(AlreadyExists):
            client.collection(FLAGS).document(name).create({"rollout": rollout, "overrides": {}})
    for name, variants in DEFAULT_EXPERIMENTS.items():
        with contextlib.suppress(AlreadyExists):
            client.collection(EXPERIMENTS).document(name).create({"variants": [{"name": v, "weight": w} for v, w in variants]})
