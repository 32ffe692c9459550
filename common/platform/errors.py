"""Typed errors. Each carries the HTTP status, a stable code for the JSON envelope, and
whether retrying could succeed (a Pub/Sub consumer re-raises those so the message is redelivered).

Messages are shown to callers: never put a token, secret or internal detail in one.
"""


class AppError(Exception):
    status = 500
    code = "internal"
    retryable = False
    default_message = "Internal error"

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: float | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.retry_after = retry_after
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BadRequest(AppError):
    status = 400
    code = "bad_request"
    default_message = "The request is not valid"


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"
    default_message = "Authentication is required"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    default_message = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_message = "Not found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    default_message = "Method not allowed"


class Conflict(AppError):
    status = 409
    code = "conflict"
    default_message = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Unsupported content type"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    retryable = True
    default_message = "Too many requests"


class Unavailable(AppError):
    status = 503
    code = "unavailable"
    retryable = True
    default_message = "A dependency is unavailable"


class ConfigError(AppError):
    """A setting is missing or invalid; raised at start and never retryable."""

    code = "misconfigured"
    default_message = "The service is misconfigured"


class CryptoError(AppError):
    """Encryption or decryption refused: fail closed, never pass plaintext through."""

    code = "crypto_error"
    default_message = "Stored secret could not be decrypted"


class UnknownKeyId(CryptoError):
    """A value under a key id this instance's ring lacks even after reading the ring again: a rotation
    not seen here yet. Retryable, so a consumer's message is redelivered instead of dropped."""

    status = 503
    code = "unknown_key_id"
    retryable = True
    default_message = "Stored secret is under a key this instance does not have yet"
