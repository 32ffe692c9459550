"""A proxied path never leaves its service's API base, whatever it holds (hypothesis), and is logged
as a template without ids."""

import posixpath
import unicodedata
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.access.proxy_paths import InvalidPath, split_route, template, upstream_url
from tests.fuzz_helpers import PROXY_PATHS, mostly

BASES = ("https://slack.com/api/", "https://gmail.googleapis.com/", "https://www.googleapis.com/calendar/v3/")


def _escaped(url: str, base: str) -> bool:
    """Whether any reading of the URL (decoded once or twice, Unicode-folded, dot segments removed)
    names something outside the base, or holds a literal "@" or a backslash. (An encoded %40 may
    stay: Calendar ids are email addresses, and an encoded "@" in a path names no host.)"""
    split, root = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    if (split.scheme, split.netloc) != (root.scheme, root.netloc) or "@" in split.path:
        return True
    readings = [split.path]
    for _ in range(2):
        readings.append(urllib.parse.unquote(readings[-1], errors="replace"))
    readings += [unicodedata.normalize("NFKC", r) for r in readings]
    for reading in readings:
        resolved = posixpath.normpath(reading) + "/"
        if "\\" in reading or not resolved.startswith(root.path) or resolved == root.path:
            return True
    return False


@settings(max_examples=1500, deadline=None)
@given(base=st.sampled_from(BASES), path=PROXY_PATHS, query=mostly(["", "limit=5", "q=a%20b"], ["a#b", "x\ny", "\\"]))
def test_no_path_leaves_its_base(base, path, query):
    try:
        url = upstream_url(base, path, query)
    except InvalidPath:
        return
    assert url.startswith(base) and not _escaped(url.partition("?")[0], base), url


@pytest.mark.parametrize(
    "path", ["conversations.list", "gmail/v1/users/me/messages/18c2f0a1", "calendars/alice%40example.com/events"]
)
def test_ordinary_paths_are_forwarded_as_written(path):
    assert upstream_url(BASES[0], path, "limit=5") == f"{BASES[0]}{path}?limit=5"


def test_both_forms_of_the_route_split_on_the_raw_path():
    assert split_route("/api/v1/proxy/slack/conversations.list") == ("slack", "conversations.list")
    assert split_route("/proxy/api/v1/users/u1/proxy/gmail/gmail/v1/users/me/labels") == ("gmail", "gmail/v1/users/me/labels")
    assert split_route("/api/v1/proxy/slack/a%2fb") == ("slack", "a%2fb")  # still encoded: checked as written
    with pytest.raises(InvalidPath):
        split_route("/api/v1/oauth/slack/status")


@pytest.mark.parametrize(
    "path, logged",
    [
        ("conversations.list", "conversations.list"),
        ("chat.postMessage", "chat.postMessage"),
        ("gmail/v1/users/me/messages/18c2f0a1b2", "gmail/v1/users/me/messages/{id}"),
        ("calendars/alice%40example.com/events/abc-123", "calendars/{id}/events/{id}"),
        ("users/me/calendarList", "users/me/calendarList"),
    ],
)
def test_the_logged_template_keeps_words_and_hides_ids(path, logged):
    assert template(path) == logged
