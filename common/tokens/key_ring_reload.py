"""The instance's key ring, kept current while the instance lives, so a key rotation reaches warm
instances without a redeploy.

The ring is read again when a value names a key id it lacks (another instance already writes under
a newer key), and once it is TOKEN_KEY_RING_MAX_AGE_SECONDS old (so a newly active key reaches every
writer). Reads are at most one per TOKEN_KEY_RING_RELOAD_SECONDS and one thread at a time, so values
under made-up key ids cannot turn into a storm of Secret Manager calls. A read that fails (Secret
Manager down, a malformed new version) keeps the ring in use. Of the ways a decryption fails, only
an unknown key id leads to a read: a value that fails authentication is refused without one."""

import threading
from collections.abc import Callable

from common.platform import clock
from common.platform.errors import AppError
from common.platform.logs import get_logger
from common.tokens.crypto import KeyRing

log = get_logger(__name__)


class ReloadingKeyRing:
    def __init__(self, read: Callable[[], KeyRing], reload_seconds: float, max_age_seconds: float):
        self._read = read
        self._reload_seconds = reload_seconds
        self._max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._ring = read()  # the first read fails the call, as before: there is no ring to fall back on
        self._read_at = clock.now()
        self._tried_at = float("-inf")  # the first read again is not held back by the first read

    def current(self) -> KeyRing:
        """The ring to write with; one caller reads a ring past its age again, the others do not wait."""
        if clock.now() - self._read_at >= self._max_age_seconds:
            self._reload("max_age", lambda _: clock.now() - self._read_at >= self._max_age_seconds, wait=False)
        return self._ring

    def reading(self, key_id: str) -> KeyRing:
        """The ring to read a value under `key_id` with: read again first if it lacks that key."""
        ring = self.current()
        if key_id not in ring.key_ids:
            self._reload("unknown_key_id", lambda ring: key_id not in ring.key_ids, wait=True)
        return self._ring

    def _reload(self, reason: str, still_needed: Callable[[KeyRing], bool], wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return
        try:
            now = clock.now()
            if not still_needed(self._ring) or now - self._tried_at < self._reload_seconds:
                return
            self._tried_at = now
            try:
                ring = self._read()
            except AppError as error:
                fields = {"reason": reason, "errorCode": error.code}
                log.warning("key ring not read again; the current one stays in use", extra={"fields": fields})
                return
            self._ring, self._read_at = ring, now
            fields = {"reason": reason, "active": ring.active, "keyIds": list(ring.key_ids)}
            log.info("key ring read again", extra={"fields": fields})
        finally:
            self._lock.release()

    def __repr__(self) -> str:
        return f"ReloadingKeyRing({self._ring!r})"
