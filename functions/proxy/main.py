"""/api/v1/proxy/{service}/{path}: the signed-in user's request forwarded to that service's API with
their token (common/access/proxy.py; docs/proxy.md)."""

import functions_framework

from common.access import proxy
from common.platform.settings import get_settings
from common.serving.http import endpoint
from common.serving.identity import authenticate


@functions_framework.http
@endpoint(*proxy.METHODS, max_body_bytes=get_settings().proxy_max_request_bytes)
def proxy_call(request):
    uid = authenticate(request).uid  # the token's user only: no uid is read from the request
    service, proxied = proxy.from_flask(request)
    return proxy.as_flask(proxy.forward(uid, service, proxied))
