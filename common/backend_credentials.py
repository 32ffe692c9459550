"""The app backend's credential fetch: a user's connection's fresh access token and its expiry, for
apps that call a provider's SDK themselves. The only reply that holds a token (Cache-Control:
no-store, as every reply); refused when its audit entry (who: the backend's account, which uid,
which service) cannot be written."""

from common import audit
from common.backend_auth import BackendCaller
from common.errors import Unavailable
from common.timeutil import iso
from common.tokens import get_credentials


def credentials(caller: BackendCaller, uid: str, service: str) -> dict:
    """Refreshed under the lease when due (common/tokens.py); 404 not_connected, 409 needs_reauth."""
    token, expires_at = get_credentials(uid, service)
    if not audit.record("backend_credentials", uid, service=service, backend=caller.email):
        raise Unavailable("The credential fetch could not be audited; retry", code="audit_unavailable", retry_after=1)
    return {"uid": uid, "service": service, "accessToken": token, "expiresAt": iso(expires_at)}
