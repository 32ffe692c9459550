"""The flags `make dev` seeds into its own emulator: the defaults (common/flags.py), plus an override
of the background-sync flag for the uids the README and the console use, so that signing in as
them shows the whole pipeline (Gmail and Calendar sync run for half of all uids by default, and
these fall in the other half). Dev only: no function writes it; an override a developer already set
for one of them is kept."""

from common.clients import firestore_client
from common.flags import AUTO_SYNC_FLAG, FLAGS, seed

DEV_UIDS = ("alice", "bob")  # the console's default uid, and the one the docs sign in as next


def seed_dev_flags() -> list[str]:
    """Seed the defaults, then turn sync on for each dev uid without an override; the uids turned on."""
    seed()
    ref = firestore_client().collection(FLAGS).document(AUTO_SYNC_FLAG)
    overrides = (ref.get().to_dict() or {}).get("overrides") or {}
    added = [uid for uid in DEV_UIDS if uid not in overrides]
    if added:
        ref.update({f"overrides.{uid}": True for uid in added})
    return added


if __name__ == "__main__":
    seed_dev_flags()
