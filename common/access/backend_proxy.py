"""The app backend's proxy calls: the user's proxy (common/access/proxy.py) for any uid the backend names,
each call in the audit trail first (who: the backend's account; which uid, service, method and
path template; never a query or a body). A call that cannot be audited is not made."""

from common.access import proxy, proxy_paths
from common.access.backend_auth import BackendCaller
from common.platform.errors import Unavailable
from common.product import audit
from common.providers import provider


def audited_forward(caller: BackendCaller, uid: str, service: str, request: proxy.ProxyRequest) -> proxy.ProxyReply:
    service = provider(service).service  # 404 unknown_service before anything is written
    proxy_paths.check_path(request.path)  # 400 invalid_path before anything is written
    entry = {
        "service": service,
        "connectionId": request.connection_id,  # None: the user's only connection of the service
        "backend": caller.email,
        "method": request.method,
        "path": proxy_paths.template(request.path),
    }
    if not audit.record("backend_proxy", uid, **entry):
        raise Unavailable("The proxy call could not be audited; retry", code="audit_unavailable", retry_after=1)
    return proxy.forward(uid, service, request)
