"""Clients for Firestore, Pub/Sub, Secret Manager and HTTP: created on first use, then reused
by every invocation of this instance (never at import time, so a cold start stays cheap)."""

import threading

import requests
from requests.adapters import HTTPAdapter

from common.platform.settings import get_settings

_lock = threading.Lock()
_clients: dict = {}

# What the process environment sets for these clients, read by grpc when it is first imported (so
# Terraform's function environment and the local stack's set it, not this module): unary-stream
# calls, which every Firestore document get is (BatchGetDocuments), run on the calling thread
# instead of starting a thread per call to wait on the channel. grpc's own switch for its
# experimental single-threaded path (https://github.com/grpc/grpc/pull/20753; read in
# grpc/_channel.py); a grpc without it ignores the variable.
GRPC_ENVIRONMENT = {"GRPC_SINGLE_THREADED_UNARY_STREAM": "1"}


def _shared(name: str, build):
    client = _clients.get(name)
    if client is None:
        with _lock:
            client = _clients.get(name)
            if client is None:
                client = _clients[name] = build()
    return client


def firestore_client():
    from google.cloud import firestore

    return _shared("firestore", lambda: firestore.Client(project=get_settings().gcp_project))


# What goes through the client's batching (connection events, hand-offs sent together) is sent at
# once, a batch of one: the default 10 ms window would sit on every request that waits for it. A
# single hand-off and analytics bypass the batching (common/product/events.py publish_messages).
HAND_OFF_BATCH = {"max_messages": 1, "max_latency": 0.001}


def publisher_client():
    from google.cloud import pubsub_v1

    return _shared("publisher", lambda: pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(**HAND_OFF_BATCH)))


def secret_manager_client():
    def build():
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        endpoint = get_settings().secret_manager_endpoint
        if not endpoint:
            return secretmanager.SecretManagerServiceClient()
        # An endpoint override is the local sandbox: plain REST, no Google credentials.
        return secretmanager.SecretManagerServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)
        )

    return _shared("secret_manager", build)


def http_session() -> requests.Session:
    """One pooled session for every outbound provider call of this instance, keeping up to 256
    connections a host open: a refresh worker runs REFRESH_JOB_CONCURRENCY calls per chunk and
    several chunks at once, and a call past the pool's size opens a connection only to drop it."""

    def build():
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=256)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    return _shared("http", build)


def reset_clients() -> None:
    """Drop every client (tests that change the emulator hosts call this)."""
    with _lock:
        _clients.clear()
