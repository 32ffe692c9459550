"""The OAuth wire, one provider call at a time, as the catalogue describes it: authorize URLs and
token replies read into a TokenSet (oauth_protocol), the HTTP calls for code exchange, refresh,
revoke and the account lookup (oauth_client), and what a provider's error means for a refresh
(refresh_policy). No storage: the token manager and the connect flow build on it."""
