"""ID tokens from the sandbox issuer, verified by the real code path through the local API."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from common.platform import clock
from common.platform.errors import Unauthenticated, Unavailable
from common.platform.settings import reset_settings
from common.serving import identity
from local.processes import free_port


def test_a_sandbox_token_is_accepted(api, id_token):
    reply = api.get("/api/v1/me", headers={"Authorization": f"Bearer {id_token('alice')}"})
    assert reply.status_code == 200
    assert reply.json() == {"success": True, "data": {"uid": "alice", "signInProvider": "custom"}}


def _rejected(api, authorization: str | None) -> dict:
    headers = {"Authorization": authorization} if authorization is not None else {}
    reply = api.get("/api/v1/me", headers=headers)
    assert reply.status_code == 401
    body = reply.json()
    assert body["success"] is False and set(body["error"]) == {"code", "message"}
    return body["error"]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic YWxpY2U6cHc=", "Token abc"])
def test_missing_bearer_token(api, header):
    assert _rejected(api, header)["code"] == "missing_token"


def test_expired_token(api, id_token):
    token = id_token("alice", lifetime=600, iat_offset=-3600)
    assert _rejected(api, f"Bearer {token}")["code"] == "token_expired"


@pytest.mark.parametrize(
    "knobs",
    [{"aud": "another-project"}, {"iss": "https://securetoken.google.com/another-project"}, {"iss": "https://evil.example"}],
)
def test_wrong_audience_or_issuer(api, id_token, knobs):
    assert _rejected(api, f"Bearer {id_token('alice', **knobs)}")["code"] == "invalid_token"


def test_token_issued_in_the_future(api, id_token):
    assert _rejected(api, f"Bearer {id_token('alice', iat_offset=3600)}")["code"] == "invalid_token"


def test_forged_signature_with_the_issuers_key_id(api, sandbox, id_token):
    key_id = next(iter(sandbox.get("/identity/certs").json()))
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = forger.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    genuine = jwt.decode(id_token("alice"), verify=False)
    forged = jwt.encode(crypt.RSASigner.from_string(pem, key_id=key_id), {**genuine, "sub": "mallory"}).decode()
    assert _rejected(api, f"Bearer {forged}")["code"] == "invalid_token"


def test_signature_swapped_between_tokens(api, id_token):
    alice, bob = id_token("alice").split("."), id_token("bob").split(".")
    assert _rejected(api, "Bearer " + ".".join([alice[0], alice[1], bob[2]]))["code"] == "invalid_token"


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
        "x" * 5000,
        "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhbGljZSJ9.c2ln",
        "\u00e9\u00e9.\u00e9.\u00e9",
    ],
)
def test_malformed_tokens(api, token):
    assert _rejected(api, f"Bearer {token}")["code"] == "invalid_token"


def test_unreachable_certificates_are_unavailable_not_accepted(stack, id_token, monkeypatch):
    monkeypatch.setenv("FIREBASE_CERTS_URL", f"http://127.0.0.1:{free_port()}/certs")
    reset_settings()
    try:
        with pytest.raises(Unavailable):
            identity.verify_id_token(id_token("alice"))
    finally:
        monkeypatch.undo()
        reset_settings()


def test_certificates_are_cached_for_their_max_age(stack, id_token):
    cache = identity.CertCache(f"{stack.sandbox_url}/identity/certs")
    key_id = jwt.decode_header(id_token("alice"))["kid"]
    first = cache.certs_for(key_id)
    cache.url = f"http://127.0.0.1:{free_port()}/gone"  # from here on, every fetch fails
    assert cache.certs_for(key_id) is first
    assert cache.certs_for("rotated-key-id") is first  # refetch failed, still-fresh certificates kept
    try:
        clock.set_offset(301)  # past the sandbox's max-age=300
        with pytest.raises(Unavailable):
            cache.certs_for(key_id)
    finally:
        clock.set_offset(0)


def test_in_process_verification_returns_the_uid(stack, id_token):
    assert identity.verify_id_token(id_token("carol")).uid == "carol"
    with pytest.raises(Unauthenticated):
        identity.verify_id_token("")


@pytest.mark.parametrize("uid", ["../bob", "a/b", "..", "__reserved__"])
def test_uids_that_are_not_usable_document_ids_are_refused(api, sandbox, uid):
    token = sandbox.get("/identity/token", params={"uid": uid}).json()["idToken"]
    assert _rejected(api, f"Bearer {token}")["code"] == "invalid_token"


def test_a_verified_token_is_not_checked_again_until_it_expires(stack, id_token):
    """The second verification comes from the instance's memory: it passes with the certificates
    gone (which the full check could not); past the token's expiry it is checked again and refused."""
    token = id_token("dora", lifetime=600)
    assert identity.verify_id_token(token).uid == "dora"
    certs = identity._cert_cache(stack.env["FIREBASE_CERTS_URL"])
    url = certs.url
    certs.url, certs._expires_at = f"http://127.0.0.1:{free_port()}/gone", 0.0
    try:
        assert identity.verify_id_token(token).uid == "dora"
        clock.set_offset(600 + identity.get_settings().id_token_clock_skew_seconds + 1)
        with pytest.raises(Unavailable):  # no longer remembered: the full check runs, and has no certificates
            identity.verify_id_token(token)
    finally:
        clock.set_offset(0)
        certs.url, certs._expires_at = url, 0.0


def test_remembered_tokens_are_told_apart_by_every_byte_and_by_audience(stack, id_token):
    alice = id_token("alice")
    identity.verify_id_token(alice)
    header, payload, signature = alice.split(".")
    altered = ".".join([header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")])
    with pytest.raises(Unauthenticated):
        identity.verify_id_token(altered)
    remembered = identity.VerifiedTokens()
    claims = jwt.decode(alice, verify=False)
    remembered.keep(alice, "certs", "aud", claims, 0)
    assert remembered.claims(alice, "certs", "aud") == claims
    assert remembered.claims(alice, "certs", "another-aud") is None
    assert remembered.claims(alice, "other-certs", "aud") is None
    assert remembered.claims(altered, "certs", "aud") is None
    assert identity.verified_tokens.claims(alice, f"google {identity.get_settings().firebase_certs_url}", "demo") is None


def test_remembered_tokens_are_bounded_least_recently_used_first():
    remembered = identity.VerifiedTokens(size=2)
    far = {"exp": clock.now() + 3600}
    for token in ("a.b.c", "d.e.f"):
        remembered.keep(token, "certs", "aud", far, 0)
    assert remembered.claims("a.b.c", "certs", "aud") is far  # a.b.c is now the most recently used
    remembered.keep("g.h.i", "certs", "aud", far, 0)
    assert remembered.claims("d.e.f", "certs", "aud") is None
    assert remembered.claims("a.b.c", "certs", "aud") is far
    remembered.keep("j.k.l", "certs", "aud", {"sub": "no exp"}, 0)  # nothing without an expiry is kept
    assert remembered.claims("j.k.l", "certs", "aud") is None
