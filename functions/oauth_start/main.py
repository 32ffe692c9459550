"""GET /api/v1/oauth/{service}/start: a new state and the URL the browser follows to consent."""

import functions_framework

from common import oauth_flow
from common.http import endpoint, path_segment_after
from common.identity import authenticate


@functions_framework.http
@endpoint("GET")
def oauth_start(request):
    uid = authenticate(request).uid
    return oauth_flow.start(uid, path_segment_after(request, "oauth"), request.args.get("returnTo"))
