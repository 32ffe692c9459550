"""The whole key-rotation cycle: add a key and make it active (old ciphertexts still read), re-encrypt
everything (resumable, idempotent), drop the old key, and everything still decrypts."""

import base64
import concurrent.futures
import datetime
import json
import os
import threading

import pytest

from common import tokens
from common.clients import firestore_client
from common.crypto import get_cipher, reset_cipher
from common.oauth_protocol import state_key
from common.reencrypt import run_reencryption
from common.settings import DEV_KEY, DEV_KEY_ID, reset_settings
from common.token_fields import token_field, verifier_field
from common.tokens import get_access_token
from tests.functions.test_oauth_flow import connect, start

NEW_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def use_ring(monkeypatch, stack):
    def use(keys: dict, active: str) -> None:
        monkeypatch.setenv("TOKEN_KEY_RING", json.dumps({"active": active, "keys": keys}))
        reset_settings()
        reset_cipher()

    yield use
    monkeypatch.undo()
    reset_settings()
    reset_cipher()


def _doc(uid: str):
    return firestore_client().collection("users").document(uid).collection("connections").document("slack")


def _ciphertexts() -> list[str]:
    values = []
    for doc in firestore_client().collection_group("connections").stream():
        values += [v for k, v in doc.to_dict().items() if k in ("accessToken", "refreshToken") and v]
    for doc in firestore_client().collection("oauth_states").stream():
        values.append(doc.get("codeVerifier"))
    return values


def test_rotation_cycle(user, use_ring):
    connect(user("alice"), "slack", team_id="T0ACME", team_name="Acme", user_id="U0ALICE")
    connect(user("bob"), "gmail", email="bob@example.com")
    pending = start(user("carol"), "calendar")
    old_tokens = {("alice", "slack"): get_access_token("alice", "slack"), ("bob", "gmail"): get_access_token("bob", "gmail")}
    assert {value.split(".")[1] for value in _ciphertexts()} == {DEV_KEY_ID}

    use_ring({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2")
    assert {key: get_access_token(*key) for key in old_tokens} == old_tokens  # old ciphertexts still readable

    runs = [run_reencryption(restart=True, batch_size=1, budget_seconds=0)]
    while not runs[-1]["done"]:
        runs.append(run_reencryption(restart=False, batch_size=1, budget_seconds=0))
    assert len(runs) >= 3  # it stopped and resumed from its cursor
    assert (runs[-1]["scanned"], runs[-1]["rewritten"], runs[-1]["failed"]) == (3, 5, 0)
    assert {value.split(".")[1] for value in _ciphertexts()} == {"k2"}

    again = run_reencryption(restart=True, batch_size=10, budget_seconds=60)
    assert again["done"] and again["rewritten"] == 0  # idempotent

    use_ring({"k2": NEW_KEY}, "k2")
    assert {key: get_access_token(*key) for key in old_tokens} == old_tokens
    key = state_key(pending["state"])
    verifier = firestore_client().collection("oauth_states").document(key).get().get("codeVerifier")
    assert len(get_cipher().decrypt(verifier, "carol", verifier_field(key))) >= 43


def test_a_value_no_key_can_read_is_counted_not_fatal(user, use_ring):
    connect(user("alice"), "gmail", email="alice@example.com")
    use_ring({"k3": NEW_KEY}, "k3")  # the dev key is gone before re-encryption: fail closed, report it
    progress = run_reencryption(restart=True, batch_size=10, budget_seconds=60)
    assert progress["done"] and progress["failed"] == 1 and progress["rewritten"] == 0


def test_a_second_run_while_one_holds_the_lease_is_busy(user, use_ring):
    from common.stores import leases

    taken_at = leases.try_take("maintenance", "reencrypt", "other-run", 60)
    try:
        assert run_reencryption(restart=True, batch_size=10, budget_seconds=60) == {"done": False, "busy": True}
    finally:
        leases.release("maintenance", "reencrypt", taken_at)
    assert run_reencryption(restart=True, batch_size=10, budget_seconds=60)["done"] is True


CONNECTIONS, ROUNDS = 25, 40  # 1,000 refresh / re-encryption pairs


@pytest.mark.slow
def test_reencryption_while_refreshes_are_in_flight_loses_no_rotation(user, sandbox, use_ring, monkeypatch):
    """Each round: every connection's refresh has had its reply from the rotating provider (the old
    refresh token is spent) and waits at a barrier; the re-encryption job then rewrites every token
    under the other key; then the refreshes store their replies. Every rotated token must be kept."""
    uids = [f"user{i:02d}" for i in range(CONNECTIONS)]
    for uid in uids:
        assert connect(user(uid), "slack", team_id="T0ACME", team_name="Acme", user_id=f"U0{uid.upper()}")["outcome"] == "success"
    sandbox.delete("/_sandbox/calls")
    rings = ({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2"), ({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, DEV_KEY_ID)
    rewritten = []
    barrier = threading.Barrier(
        CONNECTIONS, action=lambda: rewritten.append(run_reencryption(True, 200, 60)["rewritten"]), timeout=60
    )
    real_refresh_grant = tokens.refresh_grant

    def refresh_then_wait_for_reencryption(spec, refresh_token):
        reply = real_refresh_grant(spec, refresh_token)  # rotated: the reply holds the only live refresh token
        barrier.wait()
        return reply

    monkeypatch.setattr(tokens, "refresh_grant", refresh_then_wait_for_reencryption)

    def refresh(uid: str) -> str | None:
        _doc(uid).update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)})
        try:
            get_access_token(uid, "slack")
            return None
        except Exception as error:
            barrier.abort()  # the others stop waiting for this one
            return f"{uid}: {error!r}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        for round_number in range(ROUNDS):
            use_ring(*rings[round_number % 2])  # the stored tokens are under the other key
            failures = [f for f in pool.map(refresh, uids) if f]
            assert not failures, f"round {round_number}: {len(failures)} refreshes failed, e.g. {failures[0]}"
            barrier.reset()
    assert rewritten == [2 * CONNECTIONS] * ROUNDS  # every round rewrote both tokens of every connection in flight
    assert sandbox.get("/_sandbox/refreshes").json() == {f"slack:T0ACME:U0{uid.upper()}": ROUNDS for uid in uids}
    stored = [_doc(uid).get().to_dict() for uid in uids]
    assert {record["status"] for record in stored} == {"active"}
    cipher = get_cipher()
    plain = [cipher.decrypt(r["refreshToken"], r["uid"], token_field("slack", "refresh_token")) for r in stored]
    assert {a["state"] for a in sandbox.post("/_sandbox/introspect", json={"tokens": plain}).json()} == {"live"}


def test_a_google_refresh_during_reencryption_leaves_nothing_under_the_old_key(user, use_ring, monkeypatch):
    """Google sends no new refresh token: the refresh keeps the stored one, which re-encryption has
    just rewritten, instead of writing back the old key's ciphertext it read."""
    connect(user("bob"), "gmail", email="bob@example.com")
    use_ring({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2")
    real_refresh_grant = tokens.refresh_grant

    def refresh_grant_during_reencryption(spec, refresh_token):
        reply = real_refresh_grant(spec, refresh_token)
        assert run_reencryption(restart=True, batch_size=10, budget_seconds=60)["rewritten"] == 2
        return reply

    monkeypatch.setattr(tokens, "refresh_grant", refresh_grant_during_reencryption)
    gmail = firestore_client().collection("users").document("bob").collection("connections").document("gmail")
    gmail.update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)})
    assert get_access_token("bob", "gmail").startswith("ya29.")
    assert {value.split(".")[1] for value in _ciphertexts()} == {"k2"}
    use_ring({"k2": NEW_KEY}, "k2")  # the old key can go: the stored refresh token still reads
    gmail.update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)})
    monkeypatch.setattr(tokens, "refresh_grant", real_refresh_grant)
    assert get_access_token("bob", "gmail").startswith("ya29.")
