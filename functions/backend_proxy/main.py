"""/api/v1/users/{uid}/proxy/{service}/{path}: the app's backend acts through the user's connection,
as the user's own proxy route does (common/access/proxy.py; docs/proxy.md), each call audited."""

import functions_framework

from common.access import proxy
from common.access.backend_auth import authenticate_backend, target_uid
from common.access.backend_proxy import audited_forward
from common.platform.settings import get_settings
from common.serving.http import endpoint


@functions_framework.http
@endpoint(*proxy.METHODS, max_body_bytes=get_settings().proxy_max_request_bytes)
def backend_proxy(request):
    caller = authenticate_backend(request)
    uid = target_uid(request)
    service, proxied = proxy.from_flask(request)
    return proxy.as_flask(audited_forward(caller, uid, service, proxied))
