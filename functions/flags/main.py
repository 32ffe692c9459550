"""GET /api/v1/flags: the signed-in user's feature flags and experiment variants."""

import functions_framework

from common.flags import evaluate_all
from common.http import endpoint
from common.identity import authenticate


@functions_framework.http
@endpoint("GET")
def flags(request):
    return evaluate_all(authenticate(request).uid)
