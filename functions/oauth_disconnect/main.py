"""DELETE /api/v1/oauth/{service}/disconnect: revoke, delete tokens and synced data. Idempotent."""

import functions_framework

from common.connect import oauth_flow
from common.serving.http import endpoint, path_segment_after
from common.serving.identity import authenticate
from common.stores.connections import checked_connection_id


@functions_framework.http
@endpoint("DELETE")
def oauth_disconnect(request):
    uid, service = authenticate(request).uid, path_segment_after(request, "oauth")
    return oauth_flow.disconnect(uid, service, checked_connection_id(request.args.get("connectionId")))
