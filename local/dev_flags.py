"""The flags `make dev` seeds into its own emulator: the defaults (common/product/flags.py), plus overrides
for the uids the README and the console use, so that signing in as them shows the whole pipeline:
background sync (on for half of all uids by default, and these fall in the other half) and the
catalogue's providers that are off by default (Asana, Notion, Microsoft 365 at 0%). Dev only: no
function writes it; an override a developer already set for one of them is kept."""

from common.platform.clients import firestore_client
from common.product.flags import AUTO_SYNC_FLAG, DEFAULT_FLAGS, FLAGS, seed
from common.providers.catalogue import catalogue

DEV_UIDS = ("alice", "bob")  # the console's default uid, and the one the docs sign in as next


def dev_flags() -> tuple[str, ...]:
    """Background sync, and the flag of every catalogued service that is off by default."""
    off = {entry["flag"] for entry in catalogue()["services"].values() if DEFAULT_FLAGS.get(entry["flag"], 0) == 0}
    return (AUTO_SYNC_FLAG, *sorted(off))


def seed_dev_flags() -> dict[str, list[str]]:
    """Seed the defaults, then turn each dev flag on for each dev uid without an override; per flag,
    the uids turned on."""
    seed()
    added = {}
    for flag in dev_flags():
        ref = firestore_client().collection(FLAGS).document(flag)
        overrides = (ref.get().to_dict() or {}).get("overrides") or {}
        added[flag] = [uid for uid in DEV_UIDS if uid not in overrides]
        if added[flag]:
            ref.update({f"overrides.{uid}": True for uid in added[flag]})
    return added


if __name__ == "__main__":
    seed_dev_flags()
