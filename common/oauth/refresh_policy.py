"""Refresh decisions as functions of their inputs and the catalogue's per-family settings: when a
token needs refreshing, when the scheduled job should pick a connection up, which failures need
the user, and how long to back off."""

import datetime
import random

from common.providers import family_refresh_settings

# Microsoft adds interaction_required and consent_required (the user must sign in or consent again).
REAUTH_ERRORS = frozenset(
    {"invalid_grant", "invalid_refresh_token", "token_revoked", "token_expired", "interaction_required", "consent_required"}
)
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# A refresh buys at least this share of the token's lifetime: the on-demand margin is at most this
# much of it, and the next scheduled refresh at least this far ahead. A token that lives less than
# the margin or the window is otherwise "due" again the moment it is refreshed.
LIFETIME_SHARE = 0.5


def refresh_margin(family: str, settings, lifetime_seconds: float | None = None) -> float:
    """Google access tokens live 1 h, Slack's 12 h: each family gets its own margin (the setting its
    catalogue entry names), capped at a share of the token's real lifetime (expires_in, when known)."""
    margin_setting, _ = family_refresh_settings(family)
    if margin_setting is None:
        return 0.0  # the family's access tokens carry no expiry (Notion): nothing to refresh ahead of
    margin = getattr(settings, margin_setting.lower())
    return min(margin, LIFETIME_SHARE * lifetime_seconds) if lifetime_seconds else margin


def needs_refresh(expires_at: datetime.datetime | None, margin: float, now: datetime.datetime) -> bool:
    return expires_at is not None and (expires_at - now).total_seconds() <= margin


def refresh_due_at(family: str, expires_at, refreshed_at, has_refresh_token: bool, settings) -> datetime.datetime | None:
    """When the scheduled job should refresh this connection: ahead of expiry by the job's window but
    never sooner than a share of the token's lifetime after this refresh (a token shorter-lived than
    the window would be due at once, and forever), and (Google) before an unused refresh token goes
    stale. None: never (no refresh token)."""
    if not has_refresh_token:
        return None
    candidates = []
    if expires_at is not None:
        lifetime = max((expires_at - refreshed_at).total_seconds(), 0.0)
        by_window = expires_at - datetime.timedelta(seconds=settings.token_refresh_window_seconds)
        candidates.append(max(by_window, refreshed_at + datetime.timedelta(seconds=LIFETIME_SHARE * lifetime)))
    _, idle_days_setting = family_refresh_settings(family)
    if idle_days_setting:
        candidates.append(refreshed_at + datetime.timedelta(days=getattr(settings, idle_days_setting.lower())))
    return min(candidates) if candidates else None


def needs_user(error: str) -> bool:
    """Errors only a new consent fixes: the connection becomes needs_reauth."""
    return error in REAUTH_ERRORS


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; the provider's Retry-After wins when it gives one."""
    if retry_after is not None:
        return retry_after
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def retry_after_seconds(header: str | None) -> float | None:
    """Retry-After in seconds (HTTP-date form is not used by these providers)."""
    if header and header.strip().isdigit():
        return float(header.strip())
    return None
