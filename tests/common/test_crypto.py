import base64
import os
import threading

import pytest

from common.platform.errors import ConfigError, CryptoError, Unavailable
from common.tokens.crypto import KeyRing, TokenCipher
from common.tokens.key_ring_reload import ReloadingKeyRing

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
    # a rotation this instance has not seen yet: retried (503, a redelivered message), never dropped
    assert error.value.retryable and error.value.status == 503


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


class Rings:
    """The successive versions of a key ring secret, how often it was read, and how reading it goes:
    `failure` makes reads fail, `entered`/`release` hold a read in flight until released."""

    def __init__(self, *rings: KeyRing):
        self.rings, self.reads = list(rings), 0
        self.failure: Exception | None = None
        self.entered: threading.Event | None = None
        self.release = threading.Event()

    def latest(self, ring: KeyRing) -> None:
        self.rings.append(ring)

    def read(self) -> KeyRing:
        self.reads += 1
        if self.entered is not None:
            self.entered.set()
            self.release.wait(10)
        if self.failure is not None:
            raise self.failure
        return self.rings[-1]


def test_a_value_under_a_new_key_reads_the_ring_again_once():
    old, new = os.urandom(32), os.urandom(32)
    rings = Rings(KeyRing({"k1": old}, "k1"))
    warm = TokenCipher(ReloadingKeyRing(rings.read, reload_seconds=60, max_age_seconds=600))
    rings.latest(KeyRing({"k1": old, "k2": new}, "k2"))
    written = TokenCipher(rings.rings[-1]).encrypt(TOKEN, "alice", "access_token")
    assert warm.decrypt(written, "alice", "access_token") == TOKEN
    assert warm.decrypt(written, "alice", "access_token") == TOKEN
    assert rings.reads == 2  # the first read and one more
    assert warm.ring.active == "k2"  # it writes under the new key from now on


def test_values_that_fail_authentication_never_read_the_ring():
    rings = Rings(KeyRing({"k1": os.urandom(32), "k2": os.urandom(32)}, "k1"))
    cipher = TokenCipher(ReloadingKeyRing(rings.read, reload_seconds=60, max_age_seconds=600))
    parts = cipher.encrypt(TOKEN, "alice", "access_token").split(".")
    tampered = [
        ".".join([*parts[:3], flip(parts[3], 5)]),
        ".".join([parts[0], "k2", *parts[2:]]),  # another known key
        cipher.encrypt(TOKEN, "bob", "access_token"),  # another owner's value
        "v1.k1.garbage.garbage",
    ]
    for value in tampered * 25:
        with pytest.raises(CryptoError) as error:
            cipher.decrypt(value, "alice", "access_token")
        assert not error.value.retryable  # fail closed, for good
    assert rings.reads == 1


def test_many_unknown_key_ids_at_once_read_the_ring_once_per_interval(moved_clock):
    rings = Rings(KeyRing({"k1": os.urandom(32)}, "k1"))
    cipher = TokenCipher(ReloadingKeyRing(rings.read, reload_seconds=30, max_age_seconds=600))
    rings.entered = threading.Event()  # the read again stays in flight until every caller has started
    value = cipher.encrypt(TOKEN, "alice", "access_token").split(".")
    made_up = [".".join([value[0], f"forged-{n}", *value[2:]]) for n in range(40)]
    outcomes = []

    def decrypt(text: str) -> None:
        try:
            cipher.decrypt(text, "alice", "access_token")
        except CryptoError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=decrypt, args=(text,)) for text in made_up]
    threads[0].start()
    assert rings.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    rings.release.set()
    for thread in threads:
        thread.join(10)
    assert outcomes == ["unknown_key_id"] * 40 and rings.reads == 2  # the first read and one more

    moved_clock(20)
    with pytest.raises(CryptoError):
        cipher.decrypt(made_up[0], "alice", "access_token")
    assert rings.reads == 2
    moved_clock(31)  # the interval has passed: one more read
    for text in made_up:
        with pytest.raises(CryptoError):
            cipher.decrypt(text, "alice", "access_token")
    assert rings.reads == 3


def test_a_ring_past_its_age_is_read_again_and_a_failed_read_keeps_it(moved_clock):
    old, new = os.urandom(32), os.urandom(32)
    rings = Rings(KeyRing({"k1": old}, "k1"))
    cipher = TokenCipher(ReloadingKeyRing(rings.read, reload_seconds=30, max_age_seconds=600))
    rings.latest(KeyRing({"k1": old, "k2": new}, "k2"))
    moved_clock(500)
    assert cipher.encrypt(TOKEN, "alice", "access_token").split(".")[1] == "k1" and rings.reads == 1
    moved_clock(600)
    assert cipher.encrypt(TOKEN, "alice", "access_token").split(".")[1] == "k2" and rings.reads == 2

    rings.failure = Unavailable("Secret Manager did not answer", code="secrets_unavailable")
    moved_clock(1200)
    written = cipher.encrypt(TOKEN, "alice", "access_token")  # the ring in use stays
    assert written.split(".")[1] == "k2" and rings.reads == 3
    moved_clock(1220)
    assert cipher.decrypt(written, "alice", "access_token") == TOKEN and rings.reads == 3  # no retry within 30 s
    moved_clock(1230)
    cipher.encrypt(TOKEN, "alice", "access_token")
    assert rings.reads == 4
