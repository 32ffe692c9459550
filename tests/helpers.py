"""Small helpers the end-to-end tests share."""

import time

from common.clients import firestore_client


def user_docs(uid: str, collection: str) -> dict:
    """Every document of users/{uid}/{collection}, by id."""
    return {d.id: d.to_dict() for d in firestore_client().collection("users").document(uid).collection(collection).stream()}


def wait_for(check, timeout: float = 20.0):
    """Poll check() until it returns something truthy (asynchronous pipelines); its last value otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()
