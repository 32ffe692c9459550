"""GET /api/v1/oauth/connections: every connection of the signed-in user."""

import functions_framework

from common.access import connection_views
from common.serving.http import endpoint
from common.serving.identity import authenticate


@functions_framework.http
@endpoint("GET")
def oauth_connections(request):
    return connection_views.list_connections(authenticate(request).uid)
