"""Whether outside text (a uid, a Slack event id, a Calendar channel id) can name a Firestore
document. Firestore answers an unusable id with an error, not a miss, so each is checked first."""

MAX_LENGTH = 128


def is_document_id(text) -> bool:
    """Non-empty text of at most MAX_LENGTH characters that UTF-8 can encode (a JSON "\\ud800"
    escape decodes to a lone surrogate, which it cannot), with no "/", and neither "." nor "..",
    nor one of the ids Firestore reserves ("__...__")."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_LENGTH:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "/" not in text and text not in (".", "..") and not (text.startswith("__") and text.endswith("__"))
