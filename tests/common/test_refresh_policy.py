import datetime

from common.oauth.refresh_policy import (
    backoff_delay,
    needs_refresh,
    needs_user,
    refresh_due_at,
    refresh_margin,
    retry_after_seconds,
)
from common.platform.settings import load_settings

SETTINGS = load_settings({})
NOW = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.UTC)


def test_needs_refresh_within_the_margin_only():
    assert needs_refresh(NOW + datetime.timedelta(seconds=299), 300, NOW)
    assert not needs_refresh(NOW + datetime.timedelta(seconds=301), 300, NOW)
    assert not needs_refresh(None, 300, NOW)  # tokens without expiry never need it


def test_due_time_is_ahead_of_expiry_by_the_window():
    expires = NOW + datetime.timedelta(hours=12)
    assert refresh_due_at("slack", expires, NOW, True, SETTINGS) == expires - datetime.timedelta(seconds=900)
    assert refresh_due_at("slack", expires, NOW, False, SETTINGS) is None
    assert refresh_due_at("slack", None, NOW, True, SETTINGS) is None


def test_idle_google_connections_come_due_before_going_stale():
    assert refresh_due_at("google", None, NOW, True, SETTINGS) == NOW + datetime.timedelta(days=30)
    soon = NOW + datetime.timedelta(hours=1)
    assert refresh_due_at("google", soon, NOW, True, SETTINGS) == soon - datetime.timedelta(seconds=900)


def test_a_token_shorter_lived_than_the_window_is_due_half_its_lifetime_ahead():
    for lifetime in (60, 600):
        expires = NOW + datetime.timedelta(seconds=lifetime)
        assert refresh_due_at("slack", expires, NOW, True, SETTINGS) == NOW + datetime.timedelta(seconds=lifetime / 2)
        assert refresh_due_at("google", expires, NOW, True, SETTINGS) == NOW + datetime.timedelta(seconds=lifetime / 2)
    already_expired = NOW - datetime.timedelta(seconds=5)
    assert refresh_due_at("slack", already_expired, NOW, True, SETTINGS) == NOW  # never in the past


def test_the_on_demand_margin_is_at_most_half_the_tokens_lifetime():
    assert refresh_margin("slack", SETTINGS, 43200) == 1800 and refresh_margin("google", SETTINGS, 3599) == 300
    assert refresh_margin("slack", SETTINGS, 600) == 300 and refresh_margin("google", SETTINGS, 60) == 30
    assert refresh_margin("slack", SETTINGS, None) == 1800  # stored before lifetimes were recorded


def test_only_grant_errors_need_the_user():
    for error in ("invalid_grant", "invalid_refresh_token", "token_revoked", "token_expired"):
        assert needs_user(error)
    for error in ("server_error", "ratelimited", "invalid_client", "http_500"):
        assert not needs_user(error)


def test_backoff_is_jittered_capped_and_yields_to_retry_after():
    delays = [backoff_delay(attempt, None) for attempt in range(10) for _ in range(50)]
    assert all(0 <= d <= 8 for d in delays) and len(set(delays)) > 100
    assert max(backoff_delay(0, None) for _ in range(200)) <= 0.5
    assert backoff_delay(3, 7.0) == 7.0
    assert retry_after_seconds("12") == 12.0 and retry_after_seconds("soon") is None and retry_after_seconds(None) is None
