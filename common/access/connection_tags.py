"""Tags the app's backend attaches to a user's connection (`organizationId`, `endUserEmail`, free
keys): the `tags` map of `users/{uid}/connections/{service}`, so status, export, connection events
and erasure carry them with the connection, and a reconnect keeps them (stores/connections.py).
Listing by tag is one collection-group query of `tags.<key>` equalities in document order, served
by the collection-group index on the `tags` map, which its subfields inherit (infra/firestore.tf);
several tag filters are merged from those single-field indexes. What a backend does with them is
in the audit trail: the keys it set, written in the transaction that sets them, and the keys it
listed by, written before the page is answered (never a value, which may be personal)."""

import base64
import binascii
import re

from google.cloud.firestore_v1.base_query import FieldFilter

from common.access.backend_auth import BackendCaller
from common.access.connection_views import describe
from common.platform.clients import firestore_client
from common.platform.errors import BadRequest, Unavailable
from common.product import audit
from common.providers import services
from common.stores import connections, erasures
from common.stores.document_ids import is_document_id

MAX_TAGS = 10
MAX_VALUE_LENGTH = 256
KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
KEY_RULE = "a letter, then at most 63 letters, digits or underscores"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TAG_PARAMETER = "tag."
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class InvalidTags(BadRequest):
    code = "invalid_tags"


def replace_for(caller: BackendCaller, uid: str, service: str, connection_id: str | None, body) -> dict:
    """The backend replaces the tags of the user's connection to `service` (the one `connection_id`
    names, when the user has several)."""
    tags = validated(body)
    connection_id = connections.resolve(uid, service, connection_id)[0]
    entry = {"service": service, "connectionId": connection_id, "backend": caller.email, "keys": sorted(tags)}
    replace(uid, connection_id, tags, entry)
    return {"uid": uid, "service": service, "connectionId": connection_id, "tags": tags}


def list_for(caller: BackendCaller, args) -> dict:
    """A page of the connections carrying every tag named: {connections: [{uid, ...status}], nextCursor}."""
    filters, page_size, after = listing_query(args)
    records, next_cursor = tagged(filters, page_size, after)
    if not audit.record("backend_connections_listed", None, backend=caller.email, tagKeys=sorted(filters), returned=len(records)):
        raise Unavailable("The listing could not be audited; retry", code="audit_unavailable", retry_after=1)
    return {"connections": [{"uid": record["uid"], **describe(record)} for record in records], "nextCursor": next_cursor}


def validated(body) -> dict[str, str]:
    """The tags of a `{"tags": {key: value}}` body, or 400 `invalid_tags` saying what is wrong."""
    if not isinstance(body, dict) or set(body) != {"tags"} or not isinstance(body["tags"], dict):
        raise InvalidTags('The body must be {"tags": {key: value, ...}}')
    tags = body["tags"]
    if len(tags) > MAX_TAGS:
        raise InvalidTags(f"A connection has at most {MAX_TAGS} tags")
    for key, value in tags.items():
        _check_key(key)
        _check_value(key, value)
    return dict(tags)


def _check_key(key: str) -> None:
    if not KEY.fullmatch(key):
        raise InvalidTags(f"Tag key {key[:70]!r} is not {KEY_RULE}")


def _check_value(key: str, value) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE_LENGTH or CONTROL.search(value):
        raise InvalidTags(f"Tag {key} must be text of 1 to {MAX_VALUE_LENGTH} characters without control characters")
    if key == "endUserEmail" and not EMAIL.fullmatch(value):
        raise InvalidTags("Tag endUserEmail must be an email address")


def replace(uid: str, connection_id: str, tags: dict[str, str], audit_entry: dict) -> None:
    """Replace the connection's tags and write their `backend_tags_set` audit entry in one
    transaction behind the erasure fence (409 `user_erased` while the user is being erased): no tag
    change lands unaudited. 404 `not_connected` when there is no connection to tag."""
    ref = connections.connection_ref(uid, connection_id)

    def apply(transaction, snapshots):
        if not snapshots[ref.path].exists:
            raise connections.NotConnected()
        transaction.update(ref, {"tags": tags})
        audit.record_in(transaction, "backend_tags_set", uid, **audit_entry)

    erasures.write(uid, None, apply, refs=[ref])


def listing_query(args) -> tuple[dict[str, str], int, str | None]:
    """(tag filters, page size, cursor) of `?tag.<key>=<value>&pageSize=&cursor=`; 400 otherwise."""
    filters, page_size, cursor = {}, DEFAULT_PAGE_SIZE, None
    for name in args:
        values = args.getlist(name)
        if len(values) != 1:
            raise BadRequest(f"Give {name[:70]!r} once", code="invalid_query")
        if name.startswith(TAG_PARAMETER):
            key = name[len(TAG_PARAMETER) :]
            _check_key(key)
            _check_value(key, values[0])
            filters[key] = values[0]
        elif name == "pageSize":
            if not values[0].isdigit() or not 1 <= int(values[0]) <= MAX_PAGE_SIZE:
                raise BadRequest(f"pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}", code="invalid_page_size")
            page_size = int(values[0])
        elif name == "cursor":
            cursor = _cursor_path(values[0])
        else:
            raise BadRequest(f"Unknown parameter {name[:70]!r} (tag.<key>, pageSize, cursor)", code="invalid_query")
    if not filters:
        raise BadRequest("Name at least one tag: ?tag.<key>=<value>", code="missing_tag_filter")
    if len(filters) > MAX_TAGS:
        raise BadRequest(f"At most {MAX_TAGS} tag filters", code="invalid_query")
    return filters, page_size, cursor


def tagged(filters: dict[str, str], page_size: int, after: str | None) -> tuple[list[dict], str | None]:
    """One page of the connections holding every tag of `filters`, after the connection at path
    `after`: (records, the next page's cursor or None on the last page)."""
    query = firestore_client().collection_group(connections.CONNECTIONS)
    for key, value in sorted(filters.items()):
        query = query.where(filter=FieldFilter(f"tags.{key}", "==", value))
    query = query.order_by("__name__").limit(page_size + 1)
    if after:  # after its path: the connection itself may be gone since (a disconnect)
        query = query.start_after({"__name__": firestore_client().document(after)})
    page = list(query.stream())
    more, page = len(page) > page_size, page[:page_size]
    return [connections.record_of(doc) for doc in page], _cursor(page[-1].reference.path) if more else None


def _cursor(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def _cursor_path(cursor: str) -> str:
    """The connection path a cursor holds, if it is one this module issued the shape of; else 400."""
    try:
        path = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        path = ""
    parts = path.split("/")
    if not (
        len(parts) == 4
        and parts[0] == connections.USERS
        and is_document_id(parts[1])
        and parts[2] == connections.CONNECTIONS
        and connections.CONNECTION_ID.fullmatch(parts[3])
        and connections.service_of(parts[3]) in services()
    ):
        raise BadRequest("The cursor is not one this listing gave", code="invalid_cursor")
    return path
