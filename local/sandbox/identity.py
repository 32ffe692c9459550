"""A stand-in Firebase token issuer: an RS256 key with a self-signed certificate published in
Google's format ({key id: PEM}), and ID tokens signed with it, so verification runs its real path."""

import datetime
import secrets
import time

import flask
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

DEFAULT_LIFETIME = 3600


class Issuer:
    def __init__(self, project: str):
        self.project = project
        self.key_id = secrets.token_hex(20)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._signer = crypt.RSASigner.from_string(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            key_id=self.key_id,
        )
        self.certificate_pem = _self_signed(key).public_bytes(serialization.Encoding.PEM).decode()

    def token(
        self,
        uid: str,
        lifetime: int = DEFAULT_LIFETIME,
        audience: str | None = None,
        issuer: str | None = None,
        issued_offset: int = 0,
    ) -> str:
        now = int(time.time()) + issued_offset
        audience = audience or self.project
        claims = {
            "iss": issuer or f"https://securetoken.google.com/{audience}",
            "aud": audience,
            "auth_time": now,
            "user_id": uid,
            "sub": uid,
            "iat": now,
            "exp": now + lifetime,
            "firebase": {"identities": {}, "sign_in_provider": "custom"},
        }
        return jwt.encode(self._signer, claims).decode()

    def google_oidc(
        self,
        audience: str,
        email: str,
        issuer: str = "https://accounts.google.com",
        lifetime: int = DEFAULT_LIFETIME,
        email_verified: bool = True,
    ) -> str:
        """A token like the one Pub/Sub attaches to an authenticated push, or google-auth's
        fetch_id_token gets for a service account."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "azp": "1234567890",
            "email": email,
            "email_verified": email_verified,
            "sub": "1234567890",
            "iat": now,
            "exp": now + lifetime,
        }
        return jwt.encode(self._signer, claims).decode()


def _self_signed(key) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.sandbox.local")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def register(app: flask.Flask, issuer: Issuer) -> None:
    @app.get("/identity/certs")
    def identity_certs():
        response = flask.jsonify({issuer.key_id: issuer.certificate_pem})
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @app.get("/identity/google-oidc")
    def identity_google_oidc():
        """A Google-signed-style OIDC token (dev only): aud, email, iss and email_verified (true unless
        "false") are the test's to choose."""
        args = flask.request.args
        token = issuer.google_oidc(
            args.get("aud", ""),
            args.get("email", ""),
            args.get("iss", "https://accounts.google.com"),
            email_verified=args.get("email_verified", "true") != "false",
        )
        return flask.jsonify({"token": token})

    @app.get("/identity/token")
    def identity_token():
        """Sign in as `uid` (dev only). Test knobs: lifetime, aud, iss, iat_offset (seconds)."""
        args = flask.request.args
        uid = args.get("uid", "")
        if not uid or len(uid) > 128:
            return flask.jsonify({"error": {"code": 400, "message": "INVALID_UID"}}), 400
        try:
            lifetime = int(args.get("lifetime", DEFAULT_LIFETIME))
            issued_offset = int(args.get("iat_offset", 0))
        except ValueError:
            return flask.jsonify({"error": {"code": 400, "message": "INVALID_ARGUMENT"}}), 400
        token = issuer.token(uid, lifetime, args.get("aud"), args.get("iss"), issued_offset)
        return flask.jsonify(
            {"kind": "identitytoolkit#VerifyCustomTokenResponse", "idToken": token, "localId": uid, "expiresIn": str(lifetime)}
        )
