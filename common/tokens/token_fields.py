"""The associated-data fields that bind each stored secret to its place (pure; no I/O), so a value
copied into another field or service does not decrypt."""


def token_field(service: str, kind: str) -> str:
    """A stored token: a gmail token copied into calendar fails to decrypt."""
    return f"{service}:{kind}"


def verifier_field(key: str) -> str:
    """A pending state's encrypted PKCE verifier."""
    return f"oauth_state:{key}"
