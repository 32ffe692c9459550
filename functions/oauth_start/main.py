"""GET /api/v1/oauth/{service}/start: a new state, the provider's consent URL, and the state cookie
that ties the flow to this browser (call it with credentials, from the app's site)."""

import functions_framework

from common.connect.browser import apply_cookie
from common.connect.oauth_start import start
from common.platform.envelope import success
from common.product.flags import require_service_enabled
from common.providers import provider
from common.serving.http import endpoint, path_segment_after
from common.serving.identity import authenticate


@functions_framework.http
@endpoint("GET")
def oauth_start(request):
    uid = authenticate(request).uid
    service = path_segment_after(request, "oauth")
    provider(service)  # an unknown service is a 404 before any flag
    require_service_enabled(uid, service)
    data, cookie = start(uid, service, request.args.get("returnTo"), request.args.get("loginHint"))
    return apply_cookie(success(data), cookie)
