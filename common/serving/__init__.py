"""How a function serves a request: the HTTP endpoint wrapper and its envelope (http), who the
caller is from a Firebase or Google ID token (identity), the start-up configuration check, and the
health report."""
