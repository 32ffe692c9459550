import base64
import os

import pytest

from common.crypto import KeyRing, TokenCipher
from common.errors import ConfigError, CryptoError

TOKEN = "xoxb-1234-5678-secretvalue"


def ring(*key_ids, active=None):
    keys = {key_id: os.urandom(32) for key_id in key_ids}
    return KeyRing(keys, active or key_ids[-1])


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_round_trip_and_fresh_nonce():
    cipher = TokenCipher(ring("k1"))
    first = cipher.encrypt(TOKEN, "alice", "access_token")
    second = cipher.encrypt(TOKEN, "alice", "access_token")
    assert first != second  # a new 96-bit nonce each time
    assert first.split(".")[0:2] == ["v1", "k1"]
    assert len(base64.urlsafe_b64decode(first.split(".")[2] + "==")) == 12
    assert TOKEN not in first
    assert cipher.decrypt(first, "alice", "access_token") == TOKEN
    assert cipher.decrypt(second, "alice", "access_token") == TOKEN


@pytest.mark.parametrize("part", [1, 2, 3])
def test_tampering_with_any_part_fails(part):
    cipher = TokenCipher(ring("k1", "k2", active="k1"))
    parts = cipher.encrypt(TOKEN, "alice", "access_token").split(".")
    parts[part] = "k2" if part == 1 else flip(parts[part], len(parts[part]) // 2)
    with pytest.raises(CryptoError):
        cipher.decrypt(".".join(parts), "alice", "access_token")


def test_truncated_tag_and_wrong_version_fail():
    cipher = TokenCipher(ring("k1"))
    value = cipher.encrypt(TOKEN, "alice", "access_token")
    with pytest.raises(CryptoError):
        cipher.decrypt(value[:-4], "alice", "access_token")
    with pytest.raises(CryptoError, match="format"):
        cipher.decrypt("v2" + value[2:], "alice", "access_token")


def test_ciphertext_is_bound_to_owner_and_field():
    cipher = TokenCipher(ring("k1"))
    value = cipher.encrypt(TOKEN, "alice", "access_token")
    with pytest.raises(CryptoError) as wrong_owner:
        cipher.decrypt(value, "bob", "access_token")
    with pytest.raises(CryptoError):
        cipher.decrypt(value, "alice", "refresh_token")
    assert TOKEN not in repr(wrong_owner.value) and TOKEN not in str(wrong_owner.value)


def test_unknown_key_id_fails_closed():
    value = TokenCipher(ring("old")).encrypt(TOKEN, "alice", "access_token")
    with pytest.raises(CryptoError) as error:
        TokenCipher(ring("new")).decrypt(value, "alice", "access_token")
    assert error.value.code == "unknown_key_id"


def test_two_generations_of_active_key():
    old_key, new_key = os.urandom(32), os.urandom(32)
    first = TokenCipher(KeyRing({"g1": old_key}, "g1"))
    written_by_g1 = first.encrypt(TOKEN, "alice", "refresh_token")
    second = TokenCipher(KeyRing({"g1": old_key, "g2": new_key}, "g2"))
    written_by_g2 = second.encrypt(TOKEN, "alice", "refresh_token")
    assert second.key_id_of(written_by_g1) == "g1" and second.key_id_of(written_by_g2) == "g2"
    assert second.decrypt(written_by_g1, "alice", "refresh_token") == TOKEN
    assert second.decrypt(written_by_g2, "alice", "refresh_token") == TOKEN
    with pytest.raises(CryptoError):
        first.decrypt(written_by_g2, "alice", "refresh_token")


@pytest.mark.parametrize(
    "ring_json, message",
    [
        ('{"active": "a", "keys": {}}', "no keys"),
        ('{"active": "a", "keys": {"a": "' + base64.b64encode(b"short").decode() + '"}}', "32"),
        ('{"active": "b", "keys": {"a": "' + base64.b64encode(bytes(32)).decode() + '"}}', "active"),
        ('{"active": "a.b", "keys": {"a.b": "' + base64.b64encode(bytes(32)).decode() + '"}}', "key id"),
        ("not json", "must be JSON"),
        ('{"active": "a", "keys": {"a": "!!!"}}', "must be JSON"),
    ],
)
def test_bad_key_rings_are_refused(ring_json, message):
    with pytest.raises(ConfigError, match=message):
        KeyRing.from_json(ring_json)


def test_key_material_never_in_repr():
    key = os.urandom(32)
    cipher = TokenCipher(KeyRing({"k1": key}, "k1"))
    shown = repr(cipher) + repr(cipher.ring)
    assert "k1" in shown
    assert base64.b64encode(key).decode() not in shown and key.hex() not in shown


@pytest.mark.parametrize(
    "garbage", ["", "v1", "v1...", "v1.k1.AAAA.BBBB", "v1.k1.!!!.???", None, 42, "v1.k1." + "A" * 16 + "." + "B" * 40]
)
def test_malformed_ciphertexts_are_rejected(garbage):
    with pytest.raises(CryptoError):
        TokenCipher(ring("k1")).decrypt(garbage, "alice", "access_token")


def test_only_text_is_encrypted():
    with pytest.raises(CryptoError):
        TokenCipher(ring("k1")).encrypt(b"bytes", "alice", "access_token")
