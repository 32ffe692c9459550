"""Child processes that are stopped with everything they started: each runs in its own
process group, and stop() signals the whole group (gcloud starts Java underneath)."""

import contextlib
import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Child:
    def __init__(self, name: str, argv: list[str], log_path, env: dict | None = None, cwd=None, on_start=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - held open for the child's life, closed by stop()
        self._log_start = self._log.tell()  # the log is appended to: this run's lines start here
        self.process = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        if on_start is not None:
            on_start(name, self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                return b"\n".join(log.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        stop_group(self.process.pid, grace, reap=self.process.poll)
        self._log.close()


def stop_group(pgid: int, grace: float = 10.0, reap=lambda: None) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left. `reap` collects the leader
    when it is our own child (a zombie leader would otherwise look alive)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pgid):
            reap()
            time.sleep(0.05)
        if not _group_alive(pgid):
            break
    reap()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader keeps the group id alive until reaped; count only live members.
    return live_members(pgid) > 0


def live_members(pgid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            count += 1
    return count


def wait_until(check, timeout: float, child: Child | None = None, what: str = "service") -> None:
    """Poll check() until it is true; fail early if the child died, with its log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{what} exited during start:\n{child.log_tail()}")
        with contextlib.suppress(Exception):  # not up yet
            if check():
                return
        time.sleep(0.1)
    tail = child.log_tail() if child else ""
    raise RuntimeError(f"{what} did not start within {timeout:.0f}s\n{tail}")
