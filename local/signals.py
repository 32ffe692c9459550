"""SIGTERM and SIGINT stop a local server cleanly (its shutdown runs off the signal handler)."""

import signal
import threading


def stop_on_signals(shutdown) -> None:
    def handle(signum, frame):
        threading.Thread(target=shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
