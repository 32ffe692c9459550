"""GET /api/v1/connections?tag.<key>=<value>: the app's backend lists connections by tag, paged."""

import functions_framework

from common.access import connection_tags
from common.access.backend_auth import authenticate_backend
from common.serving.http import endpoint


@functions_framework.http
@endpoint("GET")
def backend_connections(request):
    return connection_tags.list_for(authenticate_backend(request), request.args)
