"""API Gateway's header swap, for the local host, so that tests exercise the path a deployed function
sees. With `x-google-backend` and backend authentication on (our OpenAPI document sets no
`disable_auth`), the gateway calls the function with a Google-signed ID token of its own service
account in Authorization, audience the backend's https origin, and moves the caller's Authorization
to X-Forwarded-Authorization; a client's own X-Forwarded-Authorization never reaches the backend.
Sources in docs/deploy.md. The tokens come from the sandbox's issuer, which stands in for Google's."""

import threading
import time

import requests
from google.auth import jwt

REFRESH_MARGIN_SECONDS = 300


class GatewayFront:
    def __init__(self, issuer_url: str, account: str, audience: str):
        self.issuer_url = issuer_url
        self.account = account
        self.audience = audience
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._session = requests.Session()

    def forward(self, environ: dict) -> None:
        """Rewrite a request's headers (its WSGI environ) as the gateway forwards them."""
        original = environ.pop("HTTP_AUTHORIZATION", None)
        environ.pop("HTTP_X_FORWARDED_AUTHORIZATION", None)
        if original is not None:
            environ["HTTP_X_FORWARDED_AUTHORIZATION"] = original
        environ["HTTP_AUTHORIZATION"] = f"Bearer {self._token(self.audience)}"

    def _token(self, audience: str) -> str:
        """The gateway's ID token for a backend, reused until close to its expiry as the gateway does."""
        with self._lock:
            token, renew_at = self._tokens.get(audience, ("", 0.0))
            if time.time() < renew_at:
                return token
            reply = self._session.get(
                f"{self.issuer_url}/identity/google-oidc", params={"aud": audience, "email": self.account}, timeout=10
            )
            reply.raise_for_status()
            token = reply.json()["token"]
            expires_at = jwt.decode(token, verify=False)["exp"]
            self._tokens[audience] = (token, expires_at - REFRESH_MARGIN_SECONDS)
            return token
