"""Product-wide rules every flow applies: feature flags and experiments, per-instance rate limits,
the audit log, connection lifecycle events on Pub/Sub and analytics events. Below the OAuth and
token code, which record into it; above the stores and the provider catalogue it reads."""
