"""Firebase ID-token verification for the user-facing endpoints.

google-auth does the signature and exp/iat/aud checks (RS256 against the x509 certificates at
FIREBASE_CERTS_URL); this module adds what Firebase requires on top (issuer, non-empty sub),
caches the certificates for their max-age, and maps every failure to a 401 in the envelope.
A token that passed every check is remembered by its SHA-256 until it expires (VerifiedTokens), so
a user's later requests with it, and Pub/Sub's pushes with the same push token, skip the RSA check.
"""

import collections
import dataclasses
import hashlib
import re
import threading

from google.auth import exceptions as google_auth_exceptions
from google.auth import jwt

from common.platform import clock
from common.platform.clients import http_session
from common.platform.errors import Unauthenticated, Unavailable
from common.platform.settings import get_settings
from common.product.rate_limit import limit_user
from common.stores.document_ids import is_document_id

MAX_TOKEN_LENGTH = 4096
SAFE_UID = re.compile(r"[^\x00-\x1f]+")  # no control characters; uids also become document ids
DEFAULT_CERT_MAX_AGE = 3600
MIN_REFETCH_INTERVAL = 30
# What google-auth's decoding raises on hostile input; RecursionError is json's answer to a header
# or payload nested deeper than its stack ("[[[[..." fits in MAX_TOKEN_LENGTH).
_DECODE_ERRORS = (ValueError, TypeError, KeyError, RecursionError, google_auth_exceptions.GoogleAuthError)


@dataclasses.dataclass(frozen=True)
class Identity:
    uid: str
    claims: dict = dataclasses.field(repr=False)


class CertCache:
    """The issuer's certificates, refetched after max-age or (rate limited) on an unknown key id."""

    def __init__(self, url: str):
        self.url = url
        self._certs: dict[str, str] = {}
        self._expires_at = 0.0
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def certs_for(self, key_id: str) -> dict[str, str]:
        with self._lock:
            now = clock.now()
            stale = now >= self._expires_at
            unknown = key_id not in self._certs and now - self._fetched_at >= MIN_REFETCH_INTERVAL
            if stale or unknown:
                self._fetch(now)
            return self._certs

    def _fetch(self, now: float) -> None:
        try:
            response = http_session().get(self.url, timeout=5)
            response.raise_for_status()
            certs = response.json()
            if not isinstance(certs, dict):
                raise ValueError("certificates are not a JSON object")
        except Exception as error:
            if self._certs and now < self._expires_at:
                return
            raise Unavailable(f"Identity certificates could not be fetched ({type(error).__name__})") from None
        match = re.search(r"max-age=(\d+)", response.headers.get("Cache-Control", ""))
        self._certs = certs
        self._fetched_at = now
        self._expires_at = now + (int(match.group(1)) if match else DEFAULT_CERT_MAX_AGE)


_cert_caches: dict[str, CertCache] = {}

VERIFIED_TOKENS = 10_000  # tokens an instance remembers as verified; the least recently used beyond are forgotten


class VerifiedTokens:
    """Tokens that passed every check, with their claims, until their `exp` (plus the clock skew
    allowed, as google-auth allows it). Keyed by the SHA-256 of what they were checked as (Firebase
    or Google, and the certificates URL), the audience and the whole token, so a token differing in any byte, or checked
    for another audience, is verified afresh; the tokens themselves are not kept. Past its expiry an
    entry is not used: the full check runs and answers token_expired. As before, a token stays valid
    until its expiry (nothing here checks revocation); a certificate retired before a token it signed
    expires no longer stops that token within this instance."""

    def __init__(self, size: int = VERIFIED_TOKENS):
        self._size = size
        self._entries: collections.OrderedDict[bytes, tuple[dict, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str, checked_as: str, audience: str) -> bytes:
        return hashlib.sha256("\x00".join((checked_as, audience, token)).encode()).digest()

    def claims(self, token: str, checked_as: str, audience: str) -> dict | None:
        key = self._key(token, checked_as, audience)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        claims, valid_until = entry
        return claims if clock.now() <= valid_until else None

    def keep(self, token: str, checked_as: str, audience: str, claims: dict, skew_seconds: float) -> None:
        expiry = claims.get("exp")
        if not isinstance(expiry, (int, float)):
            return
        with self._lock:
            # int(skew): the allowance google-auth is given
            self._entries[self._key(token, checked_as, audience)] = (claims, expiry + int(skew_seconds))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


verified_tokens = VerifiedTokens()


def _cert_cache(url: str) -> CertCache:
    return _cert_caches.setdefault(url, CertCache(url))


def _rs256_certs(token: str, certs_url: str, what: str) -> dict[str, str]:
    """The issuer's certificates for a well-formed RS256 token with a key id we know; else a 401."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise Unauthenticated(f"The {what} is malformed", code="invalid_token")
    try:
        header = jwt.decode_header(token)
    except _DECODE_ERRORS:
        raise Unauthenticated(f"The {what} is malformed", code="invalid_token") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise Unauthenticated(f"The {what} must be RS256 with a key id", code="invalid_token")
    certs = _cert_cache(certs_url).certs_for(header["kid"])
    if header["kid"] not in certs:
        raise Unauthenticated(f"The {what} was signed by an unknown key", code="invalid_token")
    return certs


def verify_id_token(token: str) -> Identity:
    settings = get_settings()
    certs_url, audience = settings.firebase_certs_url, settings.firebase_audience
    checked_as = f"firebase {certs_url}"  # a Google token for the same audience is not a Firebase one
    claims = verified_tokens.claims(token, checked_as, audience)
    if claims is None:
        claims = _checked_id_token_claims(token, certs_url, audience)
        verified_tokens.keep(token, checked_as, audience, claims, settings.id_token_clock_skew_seconds)
    return Identity(uid=claims["sub"], claims=claims)


def _checked_id_token_claims(token: str, certs_url: str, audience: str) -> dict:
    certs = _rs256_certs(token, certs_url, "ID token")
    try:
        claims = jwt.decode(
            token, certs=certs, audience=audience, clock_skew_in_seconds=int(get_settings().id_token_clock_skew_seconds)
        )
    except _DECODE_ERRORS:
        raise _rejection(token) from None
    if claims.get("iss") != f"https://securetoken.google.com/{audience}":
        raise Unauthenticated("The ID token has the wrong issuer", code="invalid_token")
    uid = claims.get("sub")
    if not is_document_id(uid) or not SAFE_UID.fullmatch(uid):
        raise Unauthenticated("The ID token's subject is empty or not a usable user id", code="invalid_token")
    return claims


def _rejection(token: str) -> Unauthenticated:
    """Tell an expired token apart from an invalid one (the claims are read only to choose the code)."""
    try:
        expiry = jwt.decode(token, verify=False).get("exp")
    except _DECODE_ERRORS:
        expiry = None
    if isinstance(expiry, (int, float)) and expiry + get_settings().id_token_clock_skew_seconds < clock.now():
        return Unauthenticated("The ID token has expired", code="token_expired")
    return Unauthenticated("The ID token is not valid", code="invalid_token")


def authenticate(request) -> Identity:
    """The signed-in user of a request carrying `Bearer <Firebase ID token>`, within the user's rate
    limit (429 beyond it). Where that header is depends on the front door (_user_authorization)."""
    identity = verify_id_token(bearer_token(_user_authorization(request), "ID token"))
    limit_user(identity.uid)
    return identity


def bearer_token(header: str, what: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value; else a 401 missing_token, or
    invalid_token when it is not ASCII (a JWT never is; a lone surrogate would not even encode)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(f"A Bearer {what} is required", code="missing_token")
    if not token.isascii():
        raise Unauthenticated(f"The {what} is malformed", code="invalid_token")
    return token.strip()


FORWARDED_AUTHORIZATION = "X-Forwarded-Authorization"


def _user_authorization(request) -> str:
    """The header holding the user's token. Deployed, API Gateway calls the function with its own
    Google-signed token in Authorization and moves the caller's to X-Forwarded-Authorization; which
    front door there is comes from GATEWAY_SERVICE_ACCOUNT, never from the request. With a gateway,
    its token must be there and valid (Google-signed for this function, from that account), else the
    request came around it; without one (make dev), a forwarded token is refused, not trusted."""
    settings = get_settings()
    gateway = settings.gateway_service_account
    if not gateway:
        if FORWARDED_AUTHORIZATION in request.headers:
            raise Unauthenticated(f"{FORWARDED_AUTHORIZATION} is accepted only from the API gateway", code="invalid_token")
        return request.headers.get("Authorization", "")
    try:
        verify_google_token(request, gateway, settings.gateway_audience)
    except Unauthenticated:
        raise Unauthenticated("The request did not come through the API gateway", code="invalid_token") from None
    return request.headers.get(FORWARDED_AUTHORIZATION, "")


GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


def verify_google_token(request, expected_email: str, audience: str) -> None:
    """`Authorization: Bearer <Google-signed OIDC token>` of a Google service calling us (a Pub/Sub
    push, API Gateway): google_claims() and the calling account's verified email. Raises
    Unauthenticated otherwise."""
    claims = google_claims(bearer_token(request.headers.get("Authorization", ""), "push token"), audience, "push token")
    if claims.get("email") != expected_email or claims.get("email_verified") is not True:
        raise Unauthenticated("The push token is not from the push account", code="invalid_token")


def google_claims(token: str, audience: str, what: str) -> dict:
    """The claims of a Google-signed OIDC token: signature against Google's certificates
    (GOOGLE_OIDC_CERTS_URL, cached as above), exp and iat, audience exactly the configured one (never
    the request's Host, which the sender chooses; none configured refuses every token), issuer
    Google. Which account it is, is the caller's to check. Raises Unauthenticated otherwise."""
    if not audience:
        raise Unauthenticated(f"No {what} audience is configured", code="invalid_token")
    settings = get_settings()
    checked_as = f"google {settings.google_oidc_certs_url}"
    claims = verified_tokens.claims(token, checked_as, audience)
    if claims is None:
        claims = _checked_google_claims(token, settings.google_oidc_certs_url, audience, what)
        verified_tokens.keep(token, checked_as, audience, claims, settings.id_token_clock_skew_seconds)
    return claims


def _checked_google_claims(token: str, certs_url: str, audience: str, what: str) -> dict:
    certs = _rs256_certs(token, certs_url, what)
    try:
        claims = jwt.decode(
            token,
            certs=certs,
            audience=audience,
            clock_skew_in_seconds=int(get_settings().id_token_clock_skew_seconds),
        )
    except _DECODE_ERRORS:
        raise Unauthenticated(f"The {what} is not valid", code="invalid_token") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthenticated(f"The {what} is not from Google", code="invalid_token")
    return claims
