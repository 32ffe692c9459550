"""AES-256-GCM for stored tokens.

Text format: `v1.<key id>.<nonce b64url>.<ciphertext+tag b64url>`. The associated data binds
each ciphertext to its format version, key id, owner and field, so a value copied into another
user's document (or another field) does not decrypt. A key ring holds one active key for writing
and older keys for reading; every failure raises CryptoError (fail closed, never plaintext). The
instance's cipher keeps its ring current with the TOKEN_KEY_RING secret (common/tokens/key_ring_reload.py).
"""

import base64
import binascii
import json
import os
import re
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.platform.errors import ConfigError, CryptoError, UnknownKeyId
from common.platform.settings import get_settings

FORMAT_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_key(text: str) -> bytes:
    """A key in standard or URL-safe base64."""
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


class KeyRing:
    """Key ids mapped to 32-byte keys, one of them active. repr shows key ids only."""

    def __init__(self, keys: dict[str, bytes], active: str):
        if not keys:
            raise ConfigError("TOKEN_KEY_RING has no keys")
        for key_id, key in keys.items():
            if not KEY_ID.fullmatch(key_id):
                raise ConfigError(f"TOKEN_KEY_RING key id {key_id[:40]!r} is not [A-Za-z0-9_-]{{1,40}}")
            if len(key) != KEY_BYTES:
                raise ConfigError(f"TOKEN_KEY_RING key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if active not in keys:
            raise ConfigError(f"TOKEN_KEY_RING active key {active[:40]!r} is not in the ring")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    @classmethod
    def from_json(cls, text: str) -> "KeyRing":
        try:
            ring = json.loads(text)
            keys = {str(k): _decode_key(v) for k, v in ring["keys"].items()}
            active = str(ring["active"])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise ConfigError('TOKEN_KEY_RING must be JSON {"active": id, "keys": {id: base64 key}}') from None
        return cls(keys, active)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def aead(self, key_id: str) -> AESGCM:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyId(f"Unknown key id {key_id[:40]!r}") from None

    def current(self) -> "KeyRing":
        """A fixed ring (tests, tools) is its own current ring, and cannot learn keys."""
        return self

    def reading(self, key_id: str) -> "KeyRing":
        """The ring to read a value under `key_id` with (a fixed ring: itself)."""
        return self

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active!r}, key_ids={list(self._keys)!r})"


def _associated_data(key_id: str, owner: str, field: str) -> bytes:
    return json.dumps([FORMAT_VERSION, key_id, owner, field]).encode()


class TokenCipher:
    def __init__(self, rings):
        """`rings`: a KeyRing, or a ReloadingKeyRing that keeps the instance's ring current."""
        self._rings = rings

    @property
    def ring(self) -> KeyRing:
        """The ring in use now (its active key writes)."""
        return self._rings.current()

    def encrypt(self, plaintext: str, owner: str, field: str) -> str:
        """Encrypt under the active key, bound to (owner, field)."""
        if not isinstance(plaintext, str):
            raise CryptoError("Only text can be encrypted")
        ring = self.ring
        key_id = ring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = ring.aead(key_id).encrypt(nonce, plaintext.encode(), _associated_data(key_id, owner, field))
        return ".".join((FORMAT_VERSION, key_id, _b64url(nonce), _b64url(sealed)))

    def decrypt(self, ciphertext: str, owner: str, field: str) -> str:
        """Decrypt a value written for (owner, field); anything else raises CryptoError."""
        key_id, nonce, sealed = self._parse(ciphertext)
        aead = self._rings.reading(key_id).aead(key_id)
        try:
            plain = aead.decrypt(nonce, sealed, _associated_data(key_id, owner, field))
            return plain.decode()
        except (InvalidTag, UnicodeDecodeError):
            raise CryptoError("Ciphertext failed authentication", code="decryption_failed") from None

    def key_id_of(self, ciphertext: str) -> str:
        """Which key wrote this value (re-encryption uses it to skip values already current)."""
        return self._parse(ciphertext)[0]

    @staticmethod
    def _parse(ciphertext) -> tuple[str, bytes, bytes]:
        parts = ciphertext.split(".") if isinstance(ciphertext, str) else []
        if len(parts) != 4 or parts[0] != FORMAT_VERSION or not KEY_ID.fullmatch(parts[1]):
            raise CryptoError("Ciphertext is not in the v1 format", code="malformed_ciphertext")
        try:
            nonce, sealed = _unb64url(parts[2]), _unb64url(parts[3])
        except (ValueError, binascii.Error):
            raise CryptoError("Ciphertext is not in the v1 format", code="malformed_ciphertext") from None
        if len(nonce) != NONCE_BYTES or len(sealed) < 16:
            raise CryptoError("Ciphertext is not in the v1 format", code="malformed_ciphertext")
        return parts[1], nonce, sealed

    def __repr__(self) -> str:
        return f"TokenCipher({self._rings!r})"


_cipher: TokenCipher | None = None
_cipher_lock = threading.Lock()


def get_cipher() -> TokenCipher:
    """The cipher of this instance, built from the TOKEN_KEY_RING secret on first use."""
    global _cipher
    if _cipher is None:
        with _cipher_lock:  # one first read of the ring, however many threads ask at once
            if _cipher is None:
                from common.platform.secrets import get_secret
                from common.tokens.key_ring_reload import ReloadingKeyRing  # it builds on KeyRing

                settings = get_settings()
                _cipher = TokenCipher(
                    ReloadingKeyRing(
                        lambda: KeyRing.from_json(get_secret("TOKEN_KEY_RING", fresh=True)),
                        settings.token_key_ring_reload_seconds,
                        settings.token_key_ring_max_age_seconds,
                    )
                )
    return _cipher


def reset_cipher() -> None:
    global _cipher
    _cipher = None
