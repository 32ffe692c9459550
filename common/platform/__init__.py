"""What every function stands on, and nothing of the product: settings and their checks, errors
and the JSON envelope, logs and error reporting, the clock, the Google Cloud clients, secrets from
Secret Manager, and the traced thread pool. It imports nothing else of `common`."""
