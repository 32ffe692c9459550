"""Which provider URL a proxied path names, and how it is logged. Pure functions.

A proxied path is forwarded as the caller wrote it (still percent-encoded, never decoded and
re-encoded), appended to the service's API base. So it is checked as raw text: only RFC 3986 path
characters; no empty, `.` or `..` segment; no `@`, backslash, whitespace or control character; no
escape that decodes to a dot, a slash, a backslash, a percent sign (double encoding) or a control
character, nor to bytes that are not strict UTF-8 (an overlong %c0%ae is a dot to a lenient decoder);
no decoded character that Unicode compatibility folding turns into a dot segment, a slash or a
backslash (a fullwidth ．．／); no scheme-like first segment. Then the joined URL must still have the base's scheme,
host and path prefix. Anything else is refused before any provider is called."""

import re
import unicodedata
import urllib.parse

from common.platform.errors import BadRequest

MAX_PATH_LENGTH = 2048
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:/%]*")  # pchar and "/" (RFC 3986 3.3), minus "@"
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})")
# Escapes that would let the path move once a server decodes it, or that hide another escape.
_REFUSED_ESCAPES = {*(f"{n:02x}" for n in range(0x20)), "7f", "2e", "2f", "5c", "25", "3f", "23"}
# The API server's own routing route from the raw path of either form of the route.
_ROUTE = re.compile(r"/api/v1/(?:users/[^/]+/)?proxy/(?P<service>[^/]+)/(?P<path>.*)")
_WORD = re.compile(r"v\d{1,2}|[A-Za-z]{1,24}(?:\.[A-Za-z]{1,24})*")  # conversations.list, calendarList, v3


class InvalidPath(BadRequest):
    code = "invalid_path"
    default_message = "The path must stay under the service's API"


def split_route(raw_path: str) -> tuple[str, str]:
    """(service, path) of a request's raw path (before any decoding), either form of the route."""
    match = _ROUTE.search(raw_path)
    if match is None:
        raise InvalidPath("Use /api/v1/proxy/{service}/{path}")
    return match.group("service"), match.group("path")


def upstream_url(api_base: str, path: str, query: str) -> str:
    """The provider URL for `path` (raw, relative to `api_base`) with the raw `query`, or InvalidPath."""
    check_path(path)
    if any(ord(c) < 0x21 or ord(c) > 0x7E or c in "#\\" for c in query):
        raise InvalidPath("The query string has a character that is not allowed")
    url = api_base + path + (f"?{query}" if query else "")
    base, joined = urllib.parse.urlsplit(api_base), urllib.parse.urlsplit(url)
    if (joined.scheme, joined.netloc) != (base.scheme, base.netloc) or not joined.path.startswith(base.path):
        raise InvalidPath()
    return url


def check_allowed(path: str, prefixes: tuple[str, ...]) -> None:
    """Services sharing one API base (Outlook mail and calendar on Graph) are each bounded to their
    own path prefixes, compared by whole segments; no prefixes: the whole base is the service's."""
    segments = path.split("/")
    if prefixes and not any(segments[: len(p.split("/"))] == p.split("/") for p in prefixes):
        raise InvalidPath(f"The path must start with one of: {', '.join(prefixes)}")


def check_path(path: str) -> None:
    if not path or len(path) > MAX_PATH_LENGTH:
        raise InvalidPath("The path is empty or too long")
    if not _PATH_CHARS.fullmatch(path):
        raise InvalidPath("The path has a character that is not allowed")
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidPath("The path has an empty, '.' or '..' segment")
    if ":" in segments[0]:
        raise InvalidPath("The path must be relative to the service's API, not a URL")
    if path.count("%") != len(_ESCAPE.findall(path)):
        raise InvalidPath("The path has a malformed percent escape")
    if any(match.group("hex").lower() in _REFUSED_ESCAPES for match in _ESCAPE.finditer(path)):
        raise InvalidPath("The path has an encoded dot, slash, backslash, percent or control character")
    try:
        decoded = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidPath("The path's escapes are not UTF-8") from None
    folded = unicodedata.normalize("NFKC", decoded)
    if "\\" in folded or folded.count("/") != path.count("/") or any(s in ("", ".", "..") for s in folded.split("/")):
        raise InvalidPath("The path has characters that read as a dot segment, a slash or a backslash")


def template(path: str) -> str:
    """The path as logged: method and resource words kept, anything that may be an id (digits,
    escapes, dashes, long words) as `{id}`. Never the query."""
    return "/".join(segment if _WORD.fullmatch(segment) else "{id}" for segment in path.split("/"))
