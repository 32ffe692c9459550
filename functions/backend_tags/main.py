"""PUT /api/v1/users/{uid}/connections/{service}/tags[?connectionId=]: the app's backend replaces the tags of one
of the user's connections (audited)."""

import functions_framework

from common.access import connection_tags
from common.access.backend_auth import authenticate_backend, target_connection
from common.serving.http import endpoint, json_body


@functions_framework.http
@endpoint("PUT")
def backend_tags(request):
    caller = authenticate_backend(request)
    uid, service, connection_id = target_connection(request, "tags")
    return connection_tags.replace_for(caller, uid, service, connection_id, json_body(request))
