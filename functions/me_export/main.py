"""GET /api/v1/me/export: everything stored about the signed-in user, as JSON, without tokens."""

import functions_framework

from common.http import endpoint
from common.identity import authenticate
from common.user_export import export


@functions_framework.http
@endpoint("GET")
def me_export(request):
    return export(authenticate(request).uid)
