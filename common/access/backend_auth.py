"""The app's backend as a caller: a Google-signed ID token of one of its service accounts
(APP_BACKEND_SERVICE_ACCOUNTS, verified email) minted for the gateway (APP_BACKEND_AUDIENCE). It
acts for whichever user its path names (/api/v1/users/{uid}/...), so a Firebase ID token never
passes here (wrong issuer and audience), and a backend token never passes as a user (identity.py
requires Firebase's issuer and audience). The token sits where the user's would (behind API Gateway,
X-Forwarded-Authorization), and is checked with the same google-auth code and certificate cache as
Google's push and gateway tokens (common/serving/identity.py). Without both settings every backend route
answers 503 `backend_not_configured`: fail closed."""

import dataclasses

from common.platform.errors import Forbidden, NotFound, Unauthenticated, Unavailable
from common.platform.settings import get_settings
from common.providers import provider
from common.serving.identity import SAFE_UID, _user_authorization, bearer_token, google_claims
from common.stores.connections import checked_connection_id
from common.stores.document_ids import is_document_id

WHAT = "backend token"
USERS_PREFIX = ("api", "v1", "users")


@dataclasses.dataclass(frozen=True)
class BackendCaller:
    """An authenticated app backend: the service account it signed in as (audit entries name it)."""

    email: str


def authenticate_backend(request) -> BackendCaller:
    """The backend calling, or 503 when backend access is not configured, 401 for a missing or
    invalid token (a user's among them), 403 for a Google account that is not one of the backend's."""
    settings = get_settings()
    audience, accounts = settings.app_backend_audience, settings.app_backend_service_accounts
    if not audience or not accounts:
        raise Unavailable(
            "Backend access is not configured (APP_BACKEND_AUDIENCE, APP_BACKEND_SERVICE_ACCOUNTS)",
            code="backend_not_configured",
        )
    claims = google_claims(bearer_token(_user_authorization(request), WHAT), audience, WHAT)
    if claims.get("email_verified") is not True or not isinstance(claims.get("email"), str):
        raise Unauthenticated("The backend token has no verified email", code="invalid_token")
    if claims["email"] not in accounts:
        raise Forbidden("This account may not act as the app's backend", code="backend_not_allowed")
    return BackendCaller(email=claims["email"])


def target_uid(request) -> str:
    """The {uid} of /api/v1/users/{uid}/...: the user the backend acts for (404 when it is no usable uid)."""
    parts = _parts(request)
    if tuple(parts[:3]) != USERS_PREFIX or len(parts) < 4 or not is_document_id(parts[3]) or not SAFE_UID.fullmatch(parts[3]):
        raise NotFound("No such user", code="unknown_user")
    return parts[3]


def target_connection(request, action: str) -> tuple[str, str, str | None]:
    """(uid, service, connection id or None) of
    /api/v1/users/{uid}/connections/{service}/{action}?connectionId=; 404 for any other path."""
    uid, rest = target_uid(request), _parts(request)[4:]
    if len(rest) != 3 or rest[0] != "connections" or rest[2] != action:
        raise NotFound("No function answers at this path")
    return uid, provider(rest[1]).service, checked_connection_id(request.args.get("connectionId"))


def _parts(request) -> list[str]:
    return [part for part in request.path.split("/") if part]
