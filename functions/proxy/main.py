"""/api/v1/proxy/{service}/{path}: the signed-in user's request forwarded to that service's API with
their token (common/proxy.py; docs/proxy.md)."""

import functions_framework

from common import proxy
from common.http import endpoint
from common.identity import authenticate
from common.settings import get_settings


@functions_framework.http
@endpoint(*proxy.METHODS, max_body_bytes=get_settings().proxy_max_request_bytes)
def proxy_call(request):
    uid = authenticate(request).uid  # the token's user only: no uid is read from the request
    service, proxied = proxy.from_flask(request)
    return proxy.as_flask(proxy.forward(uid, service, proxied))
