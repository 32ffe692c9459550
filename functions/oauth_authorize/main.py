"""GET /api/v1/oauth/{service}/authorize?state=...: binds the state to this browser, then 302 to the provider."""

import functions_framework

from common import oauth_flow
from common.browser import browser_reply
from common.http import endpoint, path_segment_after


@functions_framework.http
@endpoint("GET")
def oauth_authorize(request):
    return browser_reply(oauth_flow.authorize(path_segment_after(request, "oauth"), request.args.get("state", "")))
