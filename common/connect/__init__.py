"""A user connecting and disconnecting a service: the OAuth start (state, PKCE, the browser
binding cookie), the callback that stores the tokens and binds the account, and disconnect with
revoke (oauth_flow)."""
