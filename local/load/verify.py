"""After a load run, what the gateway owes: every event it acknowledged has its effect stored (effects
are keyed by their event, so a repeat writes the same document: idempotency is by construction),
every stored token decrypts and is still honoured by the provider, every connection is `active` or
`needs_reauth` with a reason. Reads Firestore and asks the sandbox; changes nothing."""

import collections
import json
import pathlib
import time

import requests

from common.platform.clients import firestore_client
from common.platform.timeutil import utcnow
from common.stores.connections import USERS
from common.tokens.crypto import CryptoError, get_cipher
from common.tokens.token_fields import token_field

SERVICES = ("slack", "gmail", "calendar")
# ledger kind -> (collection, document id of the effect)
EFFECTS = {
    "slack": (("slack_activity", "{}"), ("action_items", "{}-0")),
    "gmail": (("mail", "{}"),),
    "calendar": (("calendar_events", "{}"),),
}
COLLECTIONS = sorted({collection for effects in EFFECTS.values() for collection, _ in effects})


def read_ledger(path: pathlib.Path) -> dict[str, set[tuple[str, str]]]:
    """kind -> {(uid, event id)}: what the load generator handed over."""
    ledger = collections.defaultdict(set)
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        ledger[entry["kind"]].add((entry["uid"], entry["id"]))
    return ledger


def _stored(uids: list[str]) -> dict[str, set[tuple[str, str]]]:
    """collection -> {(uid, document id)} for the seeded users."""
    found = collections.defaultdict(set)
    users = firestore_client().collection(USERS)
    for uid in uids:
        for collection in COLLECTIONS:
            found[collection] |= {(uid, ref.id) for ref in users.document(uid).collection(collection).list_documents()}
    return found


def _expected(ledger: dict) -> dict[str, set[tuple[str, str]]]:
    """collection -> {(uid, document id)} the acknowledged events must have produced."""
    expected = collections.defaultdict(set)
    for kind, effects in EFFECTS.items():
        for collection, pattern in effects:
            expected[collection] |= {(uid, pattern.format(event_id)) for uid, event_id in ledger.get(kind, ())}
    return expected


def drain(ledger: dict, uids: list[str], timeout: float) -> tuple[dict, dict, float]:
    """Wait until every event has its effect, or the timeout: (expected, stored, seconds waited)."""
    started, expected = time.monotonic(), _expected(ledger)
    while True:
        stored = _stored(uids)
        done = all(expected[c] <= stored[c] for c in COLLECTIONS)
        if done or time.monotonic() - started > timeout:
            return expected, stored, time.monotonic() - started
        time.sleep(2)


def events_report(ledger: dict, uids: list[str], timeout: float) -> dict:
    """Per kind: events handed over, effects missing, and documents no event accounts for."""
    expected, stored, waited = drain(ledger, uids, timeout)
    rows = {}
    for kind, effects in EFFECTS.items():
        rows[kind] = {
            "sent": len(ledger.get(kind, ())),
            "duplicates": len(ledger.get(f"{kind}-duplicate", ())),
            "missing": sum(len(expected[c] - stored[c]) for c, _ in effects),
            "extra": sum(len(stored[c] - expected[c]) for c, _ in effects),
        }
    return {"rows": rows, "drained_seconds": round(waited, 1), "abandoned": len(ledger.get("abandoned", ()))}


def _introspect(sandbox_url: str, tokens: list[str]) -> list[dict]:
    reply = requests.post(f"{sandbox_url}/_sandbox/introspect", json={"tokens": tokens}, timeout=60)
    reply.raise_for_status()
    return reply.json()


def connections_report(uids: list[str], sandbox_url: str) -> dict:
    """Status of every connection, and whether its tokens decrypt and the provider still honours them."""
    statuses, reasons, undecryptable, cooling, plain = collections.Counter(), collections.Counter(), 0, 0, []
    cipher, now = get_cipher(), utcnow()
    for uid in uids:
        for service in SERVICES:
            snapshot = firestore_client().collection(USERS).document(uid).collection("connections").document(service).get()
            record = snapshot.to_dict() if snapshot.exists else {"status": "missing"}
            statuses[record["status"]] += 1
            if record["status"] == "needs_reauth":
                reasons[record.get("statusReason") or "(no reason)"] += 1
            if not snapshot.exists:
                continue
            cooling += bool(record.get("cooldownUntil") and record["cooldownUntil"] > now)
            try:
                access = cipher.decrypt(record["accessToken"], uid, token_field(service, "access_token"))
                refresh = cipher.decrypt(record["refreshToken"], uid, token_field(service, "refresh_token"))
            except (CryptoError, KeyError):
                undecryptable += 1
                continue
            plain.append((access, refresh))
    answers = _introspect(sandbox_url, [t for pair in plain for t in pair]) if plain else []
    dead = sum(
        1
        for access, refresh in zip(answers[0::2], answers[1::2], strict=True)
        if access["kind"] != "access" or refresh["state"] != "live"
    )
    return {
        "statuses": dict(statuses),
        "reauth_reasons": dict(reasons),
        "connections": sum(statuses.values()),
        "undecryptable": undecryptable,
        "not_honoured": dead,
        "cooling_down": cooling,
    }


def passed(events: dict, connections: dict, dropped: dict, generator_errors: int) -> bool:
    """Every kind of event was sent and each has its effect; no consumer acknowledged a message
    without its effect (a later incremental sync can make up for a lost notification's documents,
    so the documents alone would not show it) and none was given up; the generator itself did not
    fail; every connection is active or needs_reauth with a reason, with tokens intact."""
    rows = events["rows"].values()
    statuses_ok = (
        set(connections["statuses"]) <= {"active", "needs_reauth"} and "(no reason)" not in connections["reauth_reasons"]
    )
    return (
        all(r["sent"] > 0 and r["missing"] == 0 and r["extra"] == 0 for r in rows)
        and events["abandoned"] == 0
        and not any(dropped.values())
        and generator_errors == 0
        and connections["undecryptable"] == 0
        and connections["not_honoured"] == 0
        and statuses_ok
    )
