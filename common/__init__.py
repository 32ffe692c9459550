"""Shared package of the gateway's Cloud Functions: everything that is not one function's own glue,
one subpackage per concern. Each imports only the ones before it in this order: platform, stores,
providers, product, oauth, tokens, serving, webhooks, sync, connect, access, privacy
(tests/common/test_layout.py keeps it so)."""
