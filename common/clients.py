"""Clients for Firestore, Pub/Sub, Secret Manager and HTTP: created on first use, then reused
by every invocation of this instance (never at import time, so a cold start stays cheap)."""

import threading

import requests
from requests.adapters import HTTPAdapter

from common.settings import get_settings

_lock = threading.Lock()
_clients: dict = {}


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


PUBLISH_BATCH_LATENCY_SECONDS = 0.001  # the default 10 ms batching window would sit on every webhook ack


def publisher_client():
    from google.cloud import pubsub_v1

    return _shared(
        "publisher",
        lambda: pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=PUBLISH_BATCH_LATENCY_SECONDS)
        ),
    )


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
    """One pooled session for every outbound provider call of this instance."""

    def build():
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    return _shared("http", build)


def reset_clients() -> None:
    """Drop every client (tests that change the emulator hosts call this)."""
    with _lock:
        _clients.clear()
