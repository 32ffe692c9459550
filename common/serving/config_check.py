"""The whole configuration checked at once: every setting, every secret reference resolved, and the
key ring parsed. A bad key ring or an unreadable secret would otherwise pass the start and fail
later as a `server_error`. Used before the local host starts (all problems printed as one list),
and once per instance by each function (its first request answers 503, health shows `down`)."""

import threading

from common.platform.errors import AppError, ConfigError, Unavailable
from common.platform.logs import get_logger
from common.platform.settings import SECRET_VERSION_NAME, SETTINGS, parse_settings
from common.providers.catalogue import catalogue
from common.tokens.crypto import KeyRing, get_cipher

log = get_logger(__name__)
_lock = threading.Lock()
_checked: dict[str, list[str]] = {}

# What a deployed function of each kind cannot run without: HTTP functions sit behind API Gateway,
# which replaces Authorization (common/serving/identity.py); consumers accept only their push account's
# tokens, minted for their own URL (common/webhooks/consumer.py).
ROLE_SETTINGS = {
    "http": ("GATEWAY_SERVICE_ACCOUNT", "GATEWAY_AUDIENCE"),
    "consumer": ("PUSH_SERVICE_ACCOUNT", "PUSH_AUDIENCE"),
}


class ConfigurationInvalid(AppError):
    status = 503
    code = "configuration_invalid"
    default_message = "This function's configuration is invalid; its log names the problems"
    retryable = True  # a consumer's message waits for the fix instead of being dropped


def configuration_problems(resolve_references: bool = True, role: str | None = None) -> list[str]:
    """A line for each problem of this process's configuration, naming the setting (never a
    secret's value). Without `resolve_references`, Secret Manager is not asked (it may not be up);
    `role` ("http" or "consumer") adds what a deployed function of that kind needs."""
    values, problems = parse_settings()
    settings_valid = not problems
    if values.get("APP_ENV") == "production":
        problems += [
            f"{name} must be set in production for {role} functions"
            for name in ROLE_SETTINGS.get(role, ())
            if not values.get(name)
        ]
    from common.platform.secrets import get_secret  # it reads the settings checked above

    for setting in SETTINGS:
        raw = values.get(setting.name)
        if not setting.secret or raw is None:
            continue  # production leaves a function's other secrets unset: it has no access to them
        referenced = SECRET_VERSION_NAME.match(raw)
        if referenced and not (settings_valid and resolve_references):
            continue  # Secret Manager is reached through the settings
        try:
            if setting.name == "TOKEN_KEY_RING" and settings_valid:
                get_cipher()  # the ring read and parsed once, as this instance will use it
            elif setting.name == "TOKEN_KEY_RING":
                KeyRing.from_json(raw)
            elif referenced:
                get_secret(setting.name)
        except ConfigError as error:  # Secret Manager not answering is no configuration problem: raised
            problems.append(error.message)
    if settings_valid:
        problems += _catalogue_problems()
    return problems


def _catalogue_problems() -> list[str]:
    try:
        catalogue()
    except ConfigError as error:
        return [error.message]
    return []


def instance_problems(role: str) -> list[str]:
    """This instance's problems as a function of `role`, checked on first use and logged once as
    one line (not kept while Secret Manager does not answer: that passes)."""
    with _lock:
        if role not in _checked:
            try:
                problems = configuration_problems(role=role)
            except Unavailable:
                return []  # checked again next time; meanwhile the secret's own reader answers retryable
            if problems:
                log.error("configuration invalid", extra={"fields": {"problems": problems}})
            _checked[role] = problems
        return _checked[role]


def require_valid_configuration(role: str) -> None:
    if instance_problems(role):
        raise ConfigurationInvalid()


def reset_configuration_check() -> None:
    with _lock:
        _checked.clear()
