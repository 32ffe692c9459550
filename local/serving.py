"""gunicorn as the local servers run it: threaded workers, HTTP/1.1 keep-alive. The function host
uses functions-framework's production settings; the provider sandbox one worker (its state lives in
that process) with enough threads for held and delayed replies, and keeps connections open as the
real providers do (werkzeug's server closes every one after its answer)."""

import gunicorn.app.base


class GunicornServer(gunicorn.app.base.BaseApplication):
    def __init__(self, app, port: int, workers: int, threads: int):
        self.application = app
        self.options = {
            "bind": f"127.0.0.1:{port}",
            "workers": workers,
            "threads": threads,
            "timeout": 0,
            # An idle client connection stays open, as behind Google's front end; gunicorn's 2 s default
            # closes it just as a client that paces its requests ~2 s apart reuses it (a failed POST).
            "keepalive": 75,
            "loglevel": "warning",
            "limit_request_line": 0,
        }
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application
