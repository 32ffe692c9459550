"""GET /api/v1/oauth/{service}/status: the signed-in user's connection to one service."""

import functions_framework

from common.access import connection_views
from common.serving.http import endpoint, path_segment_after
from common.serving.identity import authenticate
from common.stores.connections import checked_connection_id


@functions_framework.http
@endpoint("GET")
def oauth_status(request):
    uid, service = authenticate(request).uid, path_segment_after(request, "oauth")
    return connection_views.status(uid, service, checked_connection_id(request.args.get("connectionId")))
