"""/api/v1/users/{uid}/proxy/{service}/{path}: the app's backend acts through the user's connection,
as the user's own proxy route does (common/proxy.py; docs/proxy.md), each call audited."""

import functions_framework

from common import proxy
from common.backend_auth import authenticate_backend, target_uid
from common.backend_proxy import audited_forward
from common.http import endpoint
from common.settings import get_settings


@functions_framework.http
@endpoint(*proxy.METHODS, max_body_bytes=get_settings().proxy_max_request_bytes)
def backend_proxy(request):
    caller = authenticate_backend(request)
    uid = target_uid(request)
    service, proxied = proxy.from_flask(request)
    return proxy.as_flask(audited_forward(caller, uid, service, proxied))
