"""Work handed to a thread pool keeps the caller's context (the request's or run's trace, read by
the log formatter), which a bare `submit` would drop."""

import concurrent.futures
import contextvars


def submit_traced(pool: concurrent.futures.Executor, function, *args) -> concurrent.futures.Future:
    """`pool.submit(function, *args)`, run in a copy of the calling context."""
    return pool.submit(contextvars.copy_context().run, function, *args)
