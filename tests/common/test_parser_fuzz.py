"""The parsers of hostile input, fed arbitrary text and bytes: they reject, never crash. Each
property names the exact rejection (Unauthenticated with its code, CryptoError, StateRejected), so
an IndexError, UnicodeError or RecursionError escaping a parser fails here instead of becoming a 500.
Pure: no stack (the ID-token issuer is a key made here, served by a stand-in certificate cache)."""

import base64
import hashlib
import json
import time
import types

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import EnvironHeaders

from common.connect.oauth_flow import ISSUED_TOKEN, cookie_binding, state_and_cookie
from common.connect.oauth_start import cookie_name, state_binding
from common.platform.errors import ConfigError, CryptoError, Unauthenticated
from common.platform.settings import reset_settings
from common.serving import identity
from common.stores.oauth_states import StateRejected
from common.tokens.crypto import KEY_ID, KeyRing, TokenCipher
from common.webhooks.slack_signature import sign, verify
from tests.fuzz_helpers import json_values

FUZZ = settings(max_examples=200, deadline=None)
FUZZ_WITH_ISSUER = settings(FUZZ, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the same key for every example

# Any character, lone surrogates included, with the ones parsers trip over drawn often.
AWKWARD = st.sampled_from(["²", "٣", "\n", "\x00", "/", ".", "=", "%", "é", "\ud800", "\U0001f600", " "])
HOSTILE_TEXT = st.text(st.characters(exclude_categories=()) | AWKWARD, max_size=80)
HEADER_VALUE = st.binary(max_size=80).map(lambda raw: raw.decode("latin-1"))  # how WSGI hands header bytes over
DEEP = "[" * 2000  # nesting deeper than json's recursion limit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- Slack request signatures ---------------------------------------------------------------------

SECRET = "fuzz-signing-secret"
NOW = 1_763_726_400
FRESH_STAMP = st.integers(NOW - 300, NOW + 300).map(str)
STAMP = FRESH_STAMP | st.integers(0, 10**13).map(str) | HOSTILE_TEXT | HEADER_VALUE
SIGNATURE = st.from_regex(r"v0=[0-9a-f]{64}", fullmatch=True) | HOSTILE_TEXT | HEADER_VALUE


@FUZZ
@given(stamp=st.none() | STAMP, signature=st.none() | SIGNATURE, body=st.binary(max_size=200))
@example(stamp="²", signature="v0=" + "0" * 64, body=b"{}")  # isdigit() but not int(): was a 500
@example(stamp=str(NOW), signature="v0=\ud800", body=b"{}")  # a lone surrogate: .encode() raised
def test_slack_verification_rejects_what_is_not_signed(stamp, signature, body):
    environ = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp, "HTTP_X_SLACK_SIGNATURE": signature}
    headers = EnvironHeaders({name: value for name, value in environ.items() if value is not None})
    with pytest.raises(Unauthenticated) as rejected:
        verify(headers, body, SECRET, NOW)
    assert rejected.value.status == 401 and rejected.value.code in ("invalid_signature", "stale_request")


@FUZZ
@given(stamp=FRESH_STAMP, body=st.binary(max_size=200), flipped=st.integers(0, 10**6))
def test_slack_verification_accepts_the_signed_body_and_only_it(stamp, body, flipped):
    headers = EnvironHeaders({"HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp, "HTTP_X_SLACK_SIGNATURE": sign(SECRET, stamp, body)})
    verify(headers, body, SECRET, NOW)
    tampered = bytearray(body or b"\x00")
    tampered[flipped % len(tampered)] ^= 1 << (flipped % 8)
    with pytest.raises(Unauthenticated) as rejected:
        verify(headers, bytes(tampered) if body else b"x", SECRET, NOW)
    assert rejected.value.code == "invalid_signature"


# --- Stored-token ciphertexts ---------------------------------------------------------------------

RING = KeyRing({"k1": bytes(range(32)), "k2": bytes(range(32, 64))}, "k1")
CIPHER = TokenCipher(RING)
GENUINE = CIPHER.encrypt("xoxp-fuzzed-token", "alice", "access_token")
B64URL = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.", max_size=60)
V1_SHAPED = st.builds(
    lambda key_id, nonce, sealed: ".".join(("v1", key_id, nonce, sealed)),
    st.sampled_from(["k1", "k2", "k3", "k1\n", ""]) | HOSTILE_TEXT,
    B64URL | st.binary(min_size=12, max_size=12).map(b64url),
    B64URL | st.binary(max_size=64).map(b64url),
)
NOT_TEXT = st.none() | st.binary() | st.integers() | st.lists(st.text()) | st.dictionaries(st.text(), st.text())


@FUZZ
@given(value=HOSTILE_TEXT | V1_SHAPED | NOT_TEXT | st.binary().map(lambda raw: raw.decode("latin-1")))
@example(value=GENUINE.replace("k1", "k1\n", 1))  # "$" matched before the newline: key_id_of said "k1\n"
@example(value=GENUINE[:-1])
def test_decrypting_anything_not_written_by_the_ring_raises_crypto_error(value):
    with pytest.raises(CryptoError):
        CIPHER.decrypt(value, "alice", "access_token")
    try:
        key_id = CIPHER.key_id_of(value)
    except CryptoError:
        return
    assert KEY_ID.fullmatch(key_id) and value.split(".")[1] == key_id


@FUZZ
@given(index=st.integers(0, len(GENUINE) - 1), replacement=st.characters(exclude_categories=()) | AWKWARD)
def test_a_tampered_ciphertext_decrypts_to_the_original_or_not_at_all(index, replacement):
    tampered = GENUINE[:index] + replacement + GENUINE[index + 1 :]
    try:
        plain = CIPHER.decrypt(tampered, "alice", "access_token")
    except CryptoError:
        return
    # base64 ignores the unused low bits of a final character: the same bytes, authenticated.
    assert plain == "xoxp-fuzzed-token"


JSON_VALUES = json_values(HOSTILE_TEXT)


@FUZZ
@given(
    text=HOSTILE_TEXT
    | JSON_VALUES.map(json.dumps)
    | st.fixed_dictionaries({"active": JSON_VALUES, "keys": st.dictionaries(HOSTILE_TEXT, JSON_VALUES)}).map(json.dumps)
)
def test_a_key_ring_secret_is_a_ring_or_a_config_error(text):
    try:
        ring = KeyRing.from_json(text)
    except ConfigError:
        return
    assert ring.active in ring.key_ids and all(KEY_ID.fullmatch(key_id) for key_id in ring.key_ids)


# --- ID tokens and push tokens ---------------------------------------------------------------------

KID = "fuzz-key"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SIGNER = crypt.RSASigner.from_string(
    _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    key_id=KID,
)
CERTS = {
    KID: _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
}
PUSH_EMAIL = "push@fuzz.iam.gserviceaccount.com"
PUSH_AUDIENCE = "https://gateway.example"  # the consumer's own URL (PUSH_AUDIENCE)


AUDIENCE = "fuzz-project"


@pytest.fixture
def issuer(monkeypatch):
    """Tokens for AUDIENCE, and every certificate URL serving this module's key: signatures are
    checked offline."""
    monkeypatch.setenv("FIREBASE_PROJECT", AUDIENCE)
    monkeypatch.setattr(identity, "_cert_cache", lambda url: types.SimpleNamespace(certs_for=lambda key_id: CERTS))
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def _now_plus(seconds: int) -> int:
    return int(time.time()) + seconds


def _claims():
    """Claims from plausible to absurd, so some tokens pass every check and the rest fail each one."""
    times = st.integers(-7200, 7200).map(_now_plus) | JSON_VALUES
    return st.fixed_dictionaries(
        {},
        optional={
            "iss": st.sampled_from([f"https://securetoken.google.com/{AUDIENCE}", "https://accounts.google.com"]) | JSON_VALUES,
            "aud": st.sampled_from([AUDIENCE, PUSH_AUDIENCE]) | JSON_VALUES,
            "sub": st.sampled_from(["alice", "..", "__x__", "a/b", "\ud800", "bob\n"]) | HOSTILE_TEXT | JSON_VALUES,
            "iat": times,
            "exp": times,
            "email": st.just(PUSH_EMAIL) | JSON_VALUES,
            "email_verified": st.just(True) | JSON_VALUES,
        },
    )


# Valid for the whole session: every claim holds but the one an example replaces.
CURRENT = {"iss": f"https://securetoken.google.com/{AUDIENCE}", "aud": AUDIENCE, "iat": _now_plus(-10), "exp": _now_plus(3600)}


def _signed(claims: dict) -> str:
    return jwt.encode(SIGNER, claims).decode()


def _unsigned(header: dict, payload: str, signature: bytes) -> str:
    return ".".join((b64url(json.dumps(header).encode()), b64url(payload.encode("utf-8", "surrogatepass")), b64url(signature)))


HEADERS = st.fixed_dictionaries(
    {}, optional={"alg": st.sampled_from(["RS256", "HS256", "none"]) | JSON_VALUES, "kid": st.just(KID) | JSON_VALUES}
)
GARBAGE_TOKENS = st.one_of(
    HOSTILE_TEXT,
    st.lists(st.binary(max_size=60).map(b64url), min_size=3, max_size=3).map(".".join),
    st.builds(_unsigned, HEADERS, JSON_VALUES.map(json.dumps) | HOSTILE_TEXT, st.binary(max_size=256)),
)
DEEP_HEADER = b64url(DEEP.encode()) + ".e30.c2ln"
DEEP_PAYLOAD = _unsigned({"alg": "RS256", "kid": KID}, DEEP, b"sig")


@FUZZ_WITH_ISSUER
@given(token=GARBAGE_TOKENS)
@example(token=DEEP_HEADER)  # was a RecursionError, a 500
@example(token=DEEP_PAYLOAD)
def test_an_unsigned_id_token_is_a_401(issuer, token):
    with pytest.raises(Unauthenticated) as rejected:
        identity.verify_id_token(token)
    assert rejected.value.status == 401 and rejected.value.code in ("invalid_token", "token_expired")


@FUZZ_WITH_ISSUER
@given(claims=_claims())
@example(claims=CURRENT | {"sub": "\ud800"})  # a lone surrogate: not a usable document id
@example(claims=CURRENT | {"sub": "bob\n"})  # "$" matched before the newline
def test_a_signed_id_token_is_an_identity_only_when_every_claim_holds(issuer, claims):
    try:
        found = identity.verify_id_token(_signed(claims))
    except Unauthenticated as rejected:
        assert rejected.status == 401 and rejected.code in ("invalid_token", "token_expired")
        return
    assert claims["iss"] == f"https://securetoken.google.com/{AUDIENCE}" and claims["aud"] == AUDIENCE
    assert found.uid == claims["sub"] and identity.SAFE_UID.fullmatch(found.uid)
    found.uid.encode()  # usable as a Firestore document id


def _push_request(authorization: str | None):
    headers = {} if authorization is None else {"Authorization": authorization}
    return types.SimpleNamespace(headers=headers)


@FUZZ_WITH_ISSUER
@given(
    authorization=st.none()
    | HOSTILE_TEXT
    | HEADER_VALUE
    | GARBAGE_TOKENS.map("Bearer {}".format)
    | _claims().map(lambda claims: f"Bearer {_signed(claims)}")
)
@example(authorization=f"Bearer {DEEP_HEADER}")
@example(authorization="Bearer eyJ\ud800.e30.e30")  # a lone surrogate: was a UnicodeEncodeError (a 500)
def test_a_push_token_passes_only_when_signed_for_this_endpoint_by_the_push_account(issuer, authorization):
    try:
        identity.verify_google_token(_push_request(authorization), PUSH_EMAIL, PUSH_AUDIENCE)
    except Unauthenticated as rejected:
        assert rejected.status == 401 and rejected.code in ("invalid_token", "missing_token")
        return
    claims = jwt.decode(authorization.partition(" ")[2].strip(), verify=False)
    assert claims["aud"] == PUSH_AUDIENCE and claims["email"] == PUSH_EMAIL and claims["email_verified"] is True
    assert claims["iss"] in identity.GOOGLE_ISSUERS


# --- OAuth callback state and cookie --------------------------------------------------------------

ISSUED = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=256)
ARGS = st.dictionaries(st.sampled_from(["state", "code", "error"]) | HOSTILE_TEXT, HOSTILE_TEXT | ISSUED, max_size=4)


@FUZZ
@given(args=ARGS | st.fixed_dictionaries({"state": ISSUED | HOSTILE_TEXT | st.text(min_size=257, max_size=300)}))
@example(args={"state": "\ud800"})  # was a UnicodeEncodeError, a server_error redirect
@example(args={"state": "a" * 5000})
def test_a_callback_state_is_its_key_and_cookie_or_invalid_state(args):
    try:
        key, name = state_and_cookie(args)
    except StateRejected as rejected:
        assert rejected.reason == "invalid_state"
        assert not ISSUED_TOKEN.fullmatch(args.get("state", ""))
        return
    assert key == hashlib.sha256(args["state"].encode()).hexdigest() and name == cookie_name(key)


@FUZZ
@given(cookies=st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT | ISSUED, max_size=3), value=st.none() | ISSUED | HOSTILE_TEXT)
@example(cookies={}, value="\ud800")
def test_a_state_cookie_is_its_hash_or_invalid_state(cookies, value):
    name = cookie_name("0" * 64)
    if value is not None:
        cookies = {**cookies, name: value}
    try:
        binding = cookie_binding(cookies, name)
    except StateRejected as rejected:
        assert rejected.reason == "invalid_state"
        assert value is None or not ISSUED_TOKEN.fullmatch(value)
        return
    assert binding == state_binding(value)
