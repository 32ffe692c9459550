"""`make dev` as a user runs it: it starts, serves, accepts a sandbox token, and on Ctrl-C or
SIGTERM stops every process it started."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from local.catalog import ROOT
from local.processes import free_port


def _processes_mentioning(ports: list[int]) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                text = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(f"{port}" in text for port in ports) and "pytest" not in text:
            found.append(text)
    return found


def _start_dev(env_ports: dict[str, int]) -> subprocess.Popen:
    env = {**os.environ, **{k: str(v) for k, v in env_ports.items()}}
    for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_CERTS_URL", "SECRET_MANAGER_ENDPOINT"):
        env.pop(key, None)
    return subprocess.Popen(
        [sys.executable, "-m", "local.dev"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_dev_serves_then_leaves_nothing_running(stop_signal):
    ports = {
        "PORT": free_port(),
        "SANDBOX_PORT": free_port(),
        "FIRESTORE_EMULATOR_PORT": free_port(),
        "PUBSUB_EMULATOR_PORT": free_port(),
    }
    dev = _start_dev(ports)
    api, sandbox = f"http://127.0.0.1:{ports['PORT']}", f"http://127.0.0.1:{ports['SANDBOX_PORT']}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and dev.poll() is None:
            try:
                if requests.get(f"{api}/api/v1/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        health = requests.get(f"{api}/api/v1/health", timeout=5).json()["data"]["dependencies"]
        assert health["firestore"]["status"] == "up" and health["pubsub"]["status"] == "up"
        token = requests.get(f"{sandbox}/identity/token", params={"uid": "alice"}, timeout=5).json()["idToken"]
        me = requests.get(f"{api}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.json()["data"]["uid"] == "alice"
        assert "Gateway console" in requests.get(f"{api}/", timeout=5).text
    finally:
        dev.send_signal(stop_signal)
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, output
    assert f"API       {api}" in output and f"Console   {api}/" in output
    assert _processes_mentioning(list(ports.values())) == []


def test_dev_names_a_port_in_use():
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        dev = _start_dev(
            {
                "PORT": busy,
                "SANDBOX_PORT": free_port(),
                "FIRESTORE_EMULATOR_PORT": free_port(),
                "PUBSUB_EMULATOR_PORT": free_port(),
            }
        )
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 1
    assert f"port {busy} is in use" in output and "PORT" in output


def test_missing_prerequisites_are_named():
    result = subprocess.run(
        [sys.executable, "-m", "local.prerequisites"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        timeout=60,
    )
    assert result.returncode == 1
    assert "Java 17 or newer" in result.stderr and "Google Cloud CLI" in result.stderr
