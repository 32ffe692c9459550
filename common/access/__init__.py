"""The app and its users acting through connections: the status and listing views, the backend's
authentication, credentials and tags, and the proxy (with its path allow-list) that calls a
provider's API with a user's token."""
