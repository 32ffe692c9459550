"""A connection's tokens as stored: the record read (refused when gone or waiting for the user) and
its ciphertext decrypted. The token manager's read path and its refresh both start here."""

from common.platform.errors import AppError
from common.stores import connections
from common.stores.connections import NotConnected
from common.tokens.crypto import get_cipher
from common.tokens.token_fields import token_field


class ReauthRequired(AppError):
    status = 409
    code = "needs_reauth"
    default_message = "The connection needs the user to connect again"


def decrypt(uid: str, record: dict, kind: str) -> str:
    column = "accessToken" if kind == "access_token" else "refreshToken"
    return get_cipher().decrypt(record[column], uid, token_field(record["service"], kind))


def load(uid: str, connection_id: str) -> dict:
    return load_with_time(uid, connection_id)[0]


def load_with_time(uid: str, connection_id: str) -> tuple[dict, object]:
    """The record and its update time (the precondition a refresh writes under)."""
    record, update_time = connections.read_connection(uid, connection_id)
    return usable(record), update_time


def usable(record: dict | None) -> dict:
    """The record, if its tokens may be used: NotConnected when gone, ReauthRequired while it waits for the user."""
    if record is None:
        raise NotConnected()
    if record.get("status") == "needs_reauth":
        raise ReauthRequired(code="needs_reauth")
    return record
