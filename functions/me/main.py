"""GET /api/v1/me: who the Bearer ID token says the caller is (clients use it to check a session)."""

import functions_framework

from common.serving.http import endpoint
from common.serving.identity import authenticate


@functions_framework.http
@endpoint("GET")
def me(request):
    identity = authenticate(request)
    return {"uid": identity.uid, "signInProvider": identity.claims.get("firebase", {}).get("sign_in_provider")}
