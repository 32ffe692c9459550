"""The app's backend as the test stack knows it (tests/conftest.py gives the host these settings),
and its Google ID tokens, minted by the sandbox's issuer, which stands in for Google's."""

BACKEND_AUDIENCE = "https://gateway.example.test"
BACKEND_ACCOUNT = "app-backend@acme-app.iam.gserviceaccount.com"
OTHER_BACKEND_ACCOUNT = "app-jobs@acme-app.iam.gserviceaccount.com"
BACKEND_SETTINGS = {
    "APP_BACKEND_AUDIENCE": BACKEND_AUDIENCE,
    "APP_BACKEND_SERVICE_ACCOUNTS": f"{BACKEND_ACCOUNT},{OTHER_BACKEND_ACCOUNT}",
}


def backend_token(sandbox, aud: str = BACKEND_AUDIENCE, email: str = BACKEND_ACCOUNT, **claims) -> str:
    """A Google-signed-style ID token, as google-auth's fetch_id_token gets one for a service account
    (claims: iss, email_verified="false")."""
    reply = sandbox.get("/identity/google-oidc", params={"aud": aud, "email": email, **claims})
    reply.raise_for_status()
    return reply.json()["token"]
