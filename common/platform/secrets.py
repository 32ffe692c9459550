"""Resolves secret settings: a plain value, or a Secret Manager version name
(projects/*/secrets/*/versions/*) fetched once and cached for the life of the instance, unless the
caller asks for a fresh read (the key ring, during a rotation: `versions/latest` then names a newer version)."""

import threading

from google.api_core.exceptions import InvalidArgument, NotFound, PermissionDenied

from common.platform.clients import secret_manager_client
from common.platform.errors import ConfigError, Unavailable
from common.platform.settings import SECRET_VERSION_NAME, SETTINGS, get_settings

_SECRET_NAMES = {s.name for s in SETTINGS if s.secret}
_cache: dict[str, str] = {}
_lock = threading.Lock()


def get_secret(setting_name: str, fresh: bool = False) -> str:
    """The value of a secret setting, resolved through Secret Manager when it is a reference;
    `fresh` reads it again (outside the lock, so other secrets stay readable meanwhile) and caches that."""
    if setting_name not in _SECRET_NAMES:
        raise ConfigError(f"{setting_name} is not a secret setting")
    raw = getattr(get_settings(), setting_name.lower())
    if not SECRET_VERSION_NAME.match(raw):
        return raw
    if fresh:
        value = _access(setting_name, raw)
        with _lock:
            _cache[raw] = value
        return value
    with _lock:
        if raw not in _cache:
            _cache[raw] = _access(setting_name, raw)
        return _cache[raw]


def _access(setting_name: str, version_name: str) -> str:
    """Missing, forbidden or malformed: a configuration error. Anything else (unavailable, deadline,
    network): retryable, so a consumer's message is redelivered instead of dropped."""
    try:
        response = secret_manager_client().access_secret_version(request={"name": version_name}, timeout=10)
    except (NotFound, PermissionDenied, InvalidArgument) as error:
        raise ConfigError(f"{setting_name}: Secret Manager version could not be read ({type(error).__name__})") from None
    except Exception as error:
        raise Unavailable(
            f"{setting_name}: Secret Manager did not answer ({type(error).__name__})", code="secrets_unavailable"
        ) from None
    return response.payload.data.decode("utf-8")


def clear_secret_cache() -> None:
    with _lock:
        _cache.clear()
