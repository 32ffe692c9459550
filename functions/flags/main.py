"""GET /api/v1/flags: the signed-in user's feature flags and experiment variants."""

import functions_framework

from common.product.flags import evaluate_all
from common.serving.http import endpoint
from common.serving.identity import authenticate


@functions_framework.http
@endpoint("GET")
def flags(request):
    return evaluate_all(authenticate(request).uid)
