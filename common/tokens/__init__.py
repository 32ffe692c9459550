"""A connection's tokens, at rest and fresh: encryption under the key ring (crypto, its reload) and
which document fields hold ciphertext (token_fields); the token manager, one module per job
(reader: the read path; stored: the record and its decryption; refresher: the refresh under a
lease; refresh_failures: what a failure writes; refresh_events: what a refresh tells the world);
the health bookkeeping of failed calls (connection_health); the scheduled refresh job and its chunk
workers; re-encryption under a new key."""
