"""GET /api/v1/oauth/{service}/start: a new state, the provider's consent URL, and the state cookie
that ties the flow to this browser (call it with credentials, from the app's site)."""

import functions_framework

from common.browser import apply_cookie
from common.envelope import success
from common.http import endpoint, path_segment_after
from common.identity import authenticate
from common.oauth_start import start


@functions_framework.http
@endpoint("GET")
def oauth_start(request):
    uid = authenticate(request).uid
    data, cookie = start(uid, path_segment_after(request, "oauth"), request.args.get("returnTo"))
    return apply_cookie(success(data), cookie)
