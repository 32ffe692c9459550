"""The whole key-rotation cycle: add a key and make it active (old ciphertexts still read), re-encrypt
everything (resumable, idempotent), drop the old key, and everything still decrypts."""

import base64
import json
import os

import pytest

from common.clients import firestore_client
from common.crypto import get_cipher, reset_cipher
from common.oauth_protocol import state_key
from common.reencrypt import run_reencryption
from common.settings import DEV_KEY, DEV_KEY_ID, reset_settings
from common.token_fields import verifier_field
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
