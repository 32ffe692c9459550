"""DELETE /api/v1/me: revoke every connection, stop watches, delete every document of the user."""

import functions_framework

from common.privacy.erasure import erase
from common.serving.http import endpoint
from common.serving.identity import authenticate


@functions_framework.http
@endpoint("DELETE")
def me_erase(request):
    return erase(authenticate(request).uid)
