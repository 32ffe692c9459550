"""Shared package of the gateway's Cloud Functions: everything that is not one function's own glue."""
