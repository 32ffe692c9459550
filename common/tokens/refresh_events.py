"""What a refresh tells the world, in one place: the log line, the analytics event, the connection
event (`refresh_failed` once per failure episode, `recovered` after it), the audit entry and the
`degraded` announcement."""

from common.platform.logs import get_logger
from common.product import audit
from common.product.analytics import track
from common.product.events import publish_connection_event
from common.tokens import connection_health

log = get_logger(__name__)


def attempted(uid: str, service: str) -> None:
    track("integration_token_refresh_attempted", uid=uid, provider=service)


def refreshed(uid: str, service: str, current: dict, replaced: dict, rotated: bool) -> None:
    if replaced.get("consecutiveFailures"):
        publish_connection_event("recovered", uid, current["connectionId"], current.get("account"), tags=current.get("tags"))
    fields = {"uid": uid, "service": service, "rotated": rotated, "metric": "token_refresh_succeeded"}
    log.info("token refreshed", extra={"fields": fields})
    track("integration_token_refresh_success", uid=uid, provider=service, status="success")


def in_doubt(uid: str, service: str, error: str) -> None:
    fields = {"uid": uid, "service": service, "error": error, "metric": "token_refresh_in_doubt"}
    log.warning("refresh token may have been spent by a stalled refresh; not marking re-auth yet", extra={"fields": fields})


def needs_reauth(uid: str, service: str, current: dict, error: str, *, first: bool, degraded: bool) -> None:
    fields = {"uid": uid, "service": service, "error": error, "metric": "token_refresh_failed"}
    log.warning("connection needs re-auth", extra={"fields": fields})
    track("integration_token_refresh_failed", uid=uid, provider=service, status="needs_reauth", error_code=error)
    if first:
        _failed(uid, service, current, error, needs_reauth=True)
        audit.record("needs_reauth", uid, service=service, connectionId=current["connectionId"], reason=error)
    if degraded:
        connection_health.announce_degraded(uid, current["connectionId"], current, error)


def cooling_down(uid: str, service: str, current: dict, error: str, pause: float, *, first: bool, degraded: bool) -> None:
    track("integration_token_refresh_failed", uid=uid, provider=service, status="cooldown", error_code=error)
    fields = {"uid": uid, "service": service, "error": error, "cooldownSeconds": pause, "metric": "token_refresh_failed"}
    log.warning("token refresh failed; cooling down", extra={"fields": fields})
    if first:
        _failed(uid, service, current, error, needs_reauth=False)
    if degraded:
        connection_health.announce_degraded(uid, current["connectionId"], current, error)


def _failed(uid: str, service: str, current: dict, error: str, *, needs_reauth: bool) -> None:
    publish_connection_event(
        "refresh_failed",
        uid,
        current["connectionId"],
        current.get("account"),
        tags=current.get("tags"),
        error=error,
        needsReauth=needs_reauth,
    )
