"""The provider catalogue (catalogue.json, or the file PROVIDER_CATALOGUE names): every provider's
OAuth and API facts as data, checked against a schema before anything uses it. A bad catalogue is
a configuration problem (every mistake listed at once), never a half-working provider."""

import json
import pathlib
import re
import threading

from common.platform.errors import ConfigError
from common.platform.settings import SETTINGS, get_settings

BUILT_IN = pathlib.Path(__file__).with_name("catalogue.json")
PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")
KNOWN_SETTINGS = frozenset(setting.name for setting in SETTINGS)

# The schema: a dict names every field an object must have (no others); a tuple lists the values a
# field may take; the callables check the leaves. Optional values are spelled `nullable(...)`.
# Kept in code (not JSON Schema) so the checker needs no dependency and can check cross-references
# (settings that exist, hosts a URL names) in the same pass.


def nullable(check):
    return ("nullable", check)


def text(value) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def flag(value) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def setting_name(value) -> str | None:
    if not isinstance(value, str) or value not in KNOWN_SETTINGS:
        return f"must name a setting of common/platform/settings.py (got {value!r})"
    return None


def dotted_path(value) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", value) else "must be a dotted path"


def list_of(check):
    def checked(value) -> str | None:
        if not isinstance(value, list):
            return "must be a list"
        return next((f"[{i}] {problem}" for i, item in enumerate(value) if (problem := check(item))), None)

    return checked


def map_of(check):
    def checked(value) -> str | None:
        if not isinstance(value, dict):
            return "must be an object"
        return next((f"[{key}] {problem}" for key, item in value.items() if (problem := check(item))), None)

    return checked


def one_or_more_paths(value) -> str | None:
    """A dotted path, or a list of them read in turn (the first present wins)."""
    if isinstance(value, list) and value:
        return list_of(dotted_path)(value)
    return dotted_path(value)


# Where each token field sits in a reply; null: the provider's reply has no such field.
TOKEN_PATHS = {
    "access_token": dotted_path,
    "refresh_token": nullable(dotted_path),
    "expires_in": nullable(dotted_path),
    "scope": nullable(dotted_path),
}
FAMILY = {
    "client": {"id_setting": setting_name, "secret_setting": setting_name},
    "hosts": map_of(setting_name),
    "path_params": map_of(setting_name),
    "authorize": {
        "url": text,
        "scope_param": nullable(text),
        "scope_separator": (",", " "),
        "pkce": flag,
        "params": map_of(text),
        "login_hint_param": nullable(text),
        "unreturned_scopes": list_of(text),
    },
    "token": {"url": text, "client_auth": ("basic", "body"), "format": ("form", "json"), "exchange_secret": flag},
    "reply": {"exchange": TOKEN_PATHS, "refresh": TOKEN_PATHS, "ok_field": nullable(text), "error_paths": list_of(dotted_path)},
    "refresh": {
        "kind": ("rotating_single_use", "rotating", "non_rotating", "none"),
        "margin_setting": nullable(setting_name),
        "idle_days_setting": nullable(setting_name),
        "scope_per_service": flag,
    },
    "revoke": {
        "url": nullable(text),
        "token": ("access_token", "refresh_token"),
        "send": ("bearer", "form", "json"),
        "client_auth": ("none", "basic", "body"),
        "headers": map_of(text),
        "confirm": ("ok_field", "status"),
        "note": nullable(text),
    },
    "account": {
        "from": ("token_reply", "userinfo"),
        "url": nullable(text),
        "key": list_of(dotted_path),
        "fields": map_of(one_or_more_paths),
        "lowercase": flag,
        "refuse_when_false": list_of(text),
        "missing_error": text,
    },
}
SERVICE = {
    "family": text,
    "display_name": text,
    "icon": text,
    "flag": text,
    "scopes_setting": nullable(setting_name),
    "api_base": text,
    "api_paths": list_of(text),
    "api_headers": map_of(text),
    "synced_collections": list_of(text),
}


def _check(value, schema, where: str) -> list[str]:
    """Every problem of `value` against `schema`, each naming its place in the file."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where} must be an object"]
        problems = [f"{where}.{key} is missing" for key in schema if key not in value]
        problems += [f"{where}.{key} is not a catalogue field" for key in value if key not in schema]
        for key, inner in schema.items():
            if key in value:
                problems += _check(value[key], inner, f"{where}.{key}")
        return problems
    if isinstance(schema, tuple) and schema[0] == "nullable":
        return [] if value is None else _check(value, schema[1], where)
    if isinstance(schema, tuple):
        return [] if value in schema else [f"{where} must be one of {', '.join(map(repr, schema))} (got {value!r})"]
    problem = schema(value)
    return [f"{where} {problem}"] if problem else []


def _urls(family: dict) -> list[tuple[str, str]]:
    urls = [("authorize.url", family["authorize"]["url"]), ("token.url", family["token"]["url"])]
    urls += [(f"{part}.url", family[part]["url"]) for part in ("revoke", "account") if family[part]["url"]]
    return urls


def _references(catalogue: dict) -> list[str]:
    """What the schema alone cannot see: URLs naming hosts their family declares, services naming
    a family that exists, and the account read from where the family says."""
    problems = []
    for name, family in catalogue["families"].items():
        for where, url in _urls(family):
            problems += [
                f"families.{name}.{where} names {{{host}}}, which families.{name}.hosts and .path_params do not declare"
                for host in PLACEHOLDER.findall(url)
                if host not in family["hosts"] and host not in family["path_params"]
            ]
        if family["revoke"]["url"] is None and not family["revoke"]["note"]:
            problems.append(f"families.{name}.revoke.note must say what disconnecting does when there is no revoke URL")
        if (family["account"]["from"] == "userinfo") != bool(family["account"]["url"]):
            problems.append(f"families.{name}.account.url is set exactly when the account is read from userinfo")
        if not family["account"]["key"]:
            problems.append(f"families.{name}.account.key must name at least one path")
    for name, service in catalogue["services"].items():
        family = catalogue["families"].get(service["family"])
        if family is None:
            problems.append(f"services.{name}.family names {service['family']!r}, which is not in families")
            continue
        problems += [
            f"services.{name}.api_base names host {{{host}}}, which families.{service['family']}.hosts does not declare"
            for host in PLACEHOLDER.findall(service["api_base"])
            if host not in family["hosts"]
        ]
        if (service["scopes_setting"] is None) != (family["authorize"]["scope_param"] is None):
            problems.append(f"services.{name}.scopes_setting is null exactly when its family asks for no scopes")
        if not re.fullmatch(r"[a-z][a-z0-9]{1,31}", name):
            problems.append(f"services.{name} must be a lower-case name of letters and digits (it is a URL segment)")
    return problems


def catalogue_problems(catalogue) -> list[str]:
    """Every problem of a parsed catalogue, as one list."""
    top = {"version": (1,), "families": map_of(lambda _: None), "services": map_of(lambda _: None)}
    problems = _check(catalogue, top, "catalogue")
    if problems:
        return problems
    for name, family in catalogue["families"].items():
        problems += _check(family, FAMILY, f"families.{name}")
    for name, service in catalogue["services"].items():
        problems += _check(service, SERVICE, f"services.{name}")
    if not catalogue["services"]:
        problems.append("catalogue.services must list at least one service")
    return problems or _references(catalogue)


def read_catalogue(path: pathlib.Path) -> dict:
    """The catalogue at `path`, checked; ConfigError naming every problem otherwise."""
    try:
        catalogue = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"Provider catalogue {path} cannot be read: {error}") from None
    problems = catalogue_problems(catalogue)
    if problems:
        raise ConfigError(f"Provider catalogue {path} is invalid: " + "; ".join(problems))
    return catalogue


_lock = threading.Lock()
_loaded: dict[str, dict] = {}


def catalogue() -> dict:
    """This instance's catalogue, read and checked once per file."""
    path = get_settings().provider_catalogue or str(BUILT_IN)
    with _lock:
        if path not in _loaded:
            _loaded[path] = read_catalogue(pathlib.Path(path))
        return _loaded[path]
