"""What the API shows of a user's connections (status and the list): never a token. Tags are the
app backend's (common/access/connection_tags.py)."""

from common.platform.timeutil import iso, utcnow
from common.product.flags import is_enabled
from common.providers import provider, services
from common.stores import connections
from common.tokens.connection_health import health


def describe(record: dict) -> dict:
    """What the API shows of a connection: never a token."""
    expires_at = record.get("expiresAt")
    return {
        "service": record["service"],
        "connectionId": record["connectionId"],
        "connected": True,
        "status": record.get("status", "active"),
        "scopes": record.get("scopes", []),
        "account": record.get("account"),
        "expiresAt": iso(expires_at),
        "isExpired": bool(expires_at and expires_at <= utcnow()),
        "connectedAt": iso(record.get("connectedAt")),
        "reason": record.get("statusReason") or record.get("lastError") or record.get("lastCallError"),
        "tags": record.get("tags", {}),
        **health(record),
    }


def status(uid: str, service: str, connection_id: str | None = None) -> dict:
    """The connection `connection_id` names, or the user's only one of the service (409
    connection_id_required when they have several)."""
    record = connections.find_connection(uid, provider(service).service, connection_id)
    if record is None:
        return {
            "service": service,
            "connectionId": None,
            "connected": False,
            "status": "disconnected",
            "scopes": [],
            "account": None,
            "expiresAt": None,
            "isExpired": False,
            "connectedAt": None,
            "reason": None,
            "tags": {},
            **health({}),
        }
    return describe(record)


def list_connections(uid: str) -> dict:
    """The user's connections, and the services this deployment offers them (an app's cards)."""
    order = {service: index for index, service in enumerate(services())}
    records = sorted(connections.list_connections(uid), key=lambda r: order.get(r["service"], len(order)))
    return {"connections": [describe(record) for record in records], "services": offered(uid)}


def offered(uid: str) -> list[dict]:
    """Each service of the catalogue this deployment offers, as a UI shows it, and whether its flag
    lets this user connect it (the flags are cached per instance: no extra read)."""
    specs = [provider(service) for service in services()]
    return [
        {"service": spec.service, "displayName": spec.display_name, "icon": spec.icon, "enabled": is_enabled(spec.flag, uid)}
        for spec in specs
    ]
