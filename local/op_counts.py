"""Firestore and Pub/Sub calls counted at this process's gRPC client, for `make bench`: which round
trips a request really makes. Installed by the local host when HOST_COUNT_OPS=1 (the emulators'
clients all open their channels with grpc.insecure_channel), read and reset at /_bench/ops."""

import collections
import json
import threading

import grpc

OPS_PATH = "/_bench/ops"
# gRPC method -> what it is on the request's path.
KINDS = {
    "GetDocument": "reads",
    "BatchGetDocuments": "reads",
    "RunQuery": "queries",
    "RunAggregationQuery": "queries",
    "BeginTransaction": "transactions",
    "Commit": "commits",
    "BatchWrite": "commits",
    "Publish": "publishes",
}

_lock = threading.Lock()
_counts: collections.Counter = collections.Counter()


class _Counter(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def intercept_unary_unary(self, continuation, details, request):
        kind = KINDS.get(details.method.rsplit("/", 1)[-1])
        if kind == "publishes":  # per topic: a hand-off is on the path, analytics is not
            kind = f"publishes to {request.topic.rsplit('/', 1)[-1]}"
        if kind:
            with _lock:
                _counts[kind] += 1
        return continuation(details, request)

    intercept_unary_stream = intercept_unary_unary


def install() -> None:
    opened = grpc.insecure_channel

    def counted(*args, **kwargs):
        return grpc.intercept_channel(opened(*args, **kwargs), _Counter())

    grpc.insecure_channel = counted


def ops_app(environ, start_response):
    """GET: the counts so far; DELETE: start again."""
    with _lock:
        body = json.dumps(dict(_counts)).encode()
        if environ.get("REQUEST_METHOD") == "DELETE":
            _counts.clear()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
