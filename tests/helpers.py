"""Small helpers the end-to-end tests share."""

import time

from common.platform.clients import firestore_client


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


def strings_in(value):
    """Every key and every string value of a document, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


def every_document():
    """(document path, every string in it) for every document in every collection."""

    def walk(collection):
        for doc in collection.stream():
            yield doc.reference.path, list(strings_in(doc.to_dict()))
        for ref in collection.list_documents():
            for sub in ref.collections():
                yield from walk(sub)

    for top in firestore_client().collections():
        yield from walk(top)


def documents_mentioning(*texts: str) -> list[tuple[str, str]]:
    """(path, string) of every document whose path, a key or a string value contains one of `texts`
    (case-insensitive) or equals one: what is left of a user after an erasure."""
    wanted = [t.lower() for t in texts]
    return [(path, s) for path, strings in every_document() for s in [path, *strings] if any(t in s.lower() for t in wanted)]
