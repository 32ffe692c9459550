"""GET /api/v1/oauth/{service}/callback?code&state: 302 to the app's success URL, or its failure URL with a reason."""

import functions_framework

from common.connect import oauth_flow
from common.connect.browser import browser_reply
from common.serving.http import endpoint, path_segment_after


@functions_framework.http
@endpoint("GET")
def oauth_callback(request):
    return browser_reply(oauth_flow.callback(path_segment_after(request, "oauth"), request.args, request.cookies))
