"""GET /api/v1/oauth/{service}/status: the signed-in user's connection to one service."""

import functions_framework

from common import connection_views
from common.http import endpoint, path_segment_after
from common.identity import authenticate


@functions_framework.http
@endpoint("GET")
def oauth_status(request):
    return connection_views.status(authenticate(request).uid, path_segment_after(request, "oauth"))
