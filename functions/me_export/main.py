"""GET /api/v1/me/export: everything stored about the signed-in user, as JSON, without tokens."""

import functions_framework

from common.privacy.user_export import export
from common.serving.http import endpoint
from common.serving.identity import authenticate


@functions_framework.http
@endpoint("GET")
def me_export(request):
    return export(authenticate(request).uid)
