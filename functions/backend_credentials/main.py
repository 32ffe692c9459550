"""GET /api/v1/users/{uid}/connections/{service}/credentials[?connectionId=]: the app's backend fetches a fresh
access token and its expiry for one of the user's connections (audited)."""

import functions_framework

from common.access.backend_auth import authenticate_backend, target_connection
from common.access.backend_credentials import credentials
from common.serving.http import endpoint


@functions_framework.http
@endpoint("GET")
def backend_credentials(request):
    return credentials(authenticate_backend(request), *target_connection(request, "credentials"))
