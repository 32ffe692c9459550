"""`make dev` as a user runs it: it starts, serves, accepts a sandbox token, and on Ctrl-C, SIGTERM
or SIGHUP (the terminal closed) stops every process it started; killed outright, it leaves a pid
file by which the next `make dev` recognises its leftovers and `make stop` ends them; `make tick`
runs a scheduled job on it."""

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


def _start_dev(env_ports: dict[str, int], pid_file) -> subprocess.Popen:
    env = {**os.environ, **{k: str(v) for k, v in env_ports.items()}, "DEV_PID_FILE": str(pid_file)}
    for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_CERTS_URL", "SECRET_MANAGER_ENDPOINT"):
        env.pop(key, None)
    return subprocess.Popen(
        [sys.executable, "-m", "local.dev"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _free_ports() -> dict[str, int]:
    return {name: free_port() for name in ("PORT", "SANDBOX_PORT", "FIRESTORE_EMULATOR_PORT", "PUBSUB_EMULATOR_PORT")}


def _wait_healthy(dev: subprocess.Popen, api: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and dev.poll() is None:
        try:
            if requests.get(f"{api}/api/v1/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.5)


def _read_banner(dev: subprocess.Popen) -> str:
    """make dev's output up to its banner's last line (printed once the flags are seeded), or to its end."""
    lines = []
    while line := dev.stdout.readline():
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    return "".join(lines)


def _run_tool(module: str, pid_file, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "DEV_PID_FILE": str(pid_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_dev_serves_then_leaves_nothing_running(stop_signal, tmp_path):
    ports = _free_ports()
    dev = _start_dev(ports, tmp_path / "dev.json")
    api, sandbox = f"http://127.0.0.1:{ports['PORT']}", f"http://127.0.0.1:{ports['SANDBOX_PORT']}"
    try:
        banner = _read_banner(dev)
        health = requests.get(f"{api}/api/v1/health", timeout=5).json()["data"]["dependencies"]
        assert health["firestore"]["status"] == "up" and health["pubsub"]["status"] == "up"
        token = requests.get(f"{sandbox}/identity/token", params={"uid": "alice"}, timeout=5).json()["idToken"]
        me = requests.get(f"{api}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.json()["data"]["uid"] == "alice"
        assert "Gateway console" in requests.get(f"{api}/", timeout=5).text
        flags = requests.get(f"{api}/api/v1/flags", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert flags.json()["data"]["flags"]["integration_auto_sync"] is True  # seeded before the banner
        assert 'url: "/docs/openapi.json"' in requests.get(f"{api}/docs", timeout=5).text
    finally:
        dev.send_signal(stop_signal)
        output, _ = dev.communicate(timeout=60)
    output = banner + output
    assert dev.returncode == 0, output
    assert f"API       {api}" in output and f"Console   {api}/" in output and f"API docs  {api}/docs" in output
    assert _processes_mentioning(list(ports.values())) == []
    assert not (tmp_path / "dev.json").exists()


@pytest.mark.slow
def test_a_killed_dev_is_found_by_the_next_and_stopped_by_make_stop(tmp_path):
    pid_file, ports = tmp_path / "dev.json", _free_ports()
    dev = _start_dev(ports, pid_file)
    try:
        _wait_healthy(dev, f"http://127.0.0.1:{ports['PORT']}")
        for job in ("token_refresh", "renew_watches", "reencrypt_tokens"):
            tick = _run_tool("local.tick", pid_file, job)
            assert tick.returncode == 0, tick.stdout + tick.stderr
            assert '"message processed"' in tick.stdout and f'"function": "{job}"' in tick.stdout
        assert "re-encryption finished" in tick.stdout  # the run's own lines come with its outcome
    finally:
        dev.kill()  # kill -9: no cleanup runs
        dev.communicate(timeout=30)
    assert _processes_mentioning(list(ports.values())) != []  # orphaned: emulators, sandbox, host

    again = _start_dev(_free_ports(), pid_file)
    output, _ = again.communicate(timeout=60)
    assert again.returncode == 1
    assert "still running" in output and "make stop" in output and str(ports["PORT"]) in output

    stopped = _run_tool("local.stop", pid_file)
    assert stopped.returncode == 0 and "Stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert _processes_mentioning(list(ports.values())) == []
    assert not pid_file.exists()
    assert "Nothing to stop" in _run_tool("local.stop", pid_file).stdout


def test_a_bad_configuration_stops_the_start_with_every_problem_listed(tmp_path):
    """Before: `make dev` started and health said ok with a 5-byte key; a bad number ended in a
    traceback under the host log's older lines."""
    from tests.functions.test_health import BAD_CONFIGURATION

    dev = subprocess.Popen(
        [sys.executable, "-m", "local.dev"],
        cwd=ROOT,
        env={
            **os.environ,
            **{k: str(v) for k, v in _free_ports().items()},
            **BAD_CONFIGURATION,
            "DEV_PID_FILE": str(tmp_path / "d"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = dev.communicate(timeout=180)
    assert dev.returncode == 1
    assert "Configuration problems" in output and "Traceback" not in output
    assert "  - PROVIDER_TIMEOUT_SECONDS must be a number of seconds (got 'abc')" in output
    assert "  - TOKEN_KEY_RING key 'k1' is 5 bytes; AES-256 needs 32" in output
    assert output.count("Configuration problems") == 1  # this run's log only


def test_tick_names_a_missing_dev(tmp_path):
    tick = _run_tool("local.tick", tmp_path / "none.json", "token_refresh")
    assert tick.returncode == 1 and "make dev" in tick.stderr


@pytest.mark.parametrize("setting", ["PORT", "SANDBOX_PORT", "FIRESTORE_EMULATOR_PORT", "PUBSUB_EMULATOR_PORT"])
def test_dev_names_a_port_in_use_and_the_setting_that_moves_it(setting, tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        dev = _start_dev({**_free_ports(), setting: busy}, tmp_path / "dev.json")
        output, _ = dev.communicate(timeout=90)
    assert dev.returncode == 1
    assert f"port {busy}" in output and "is in use" in output and f"set {setting} to another port" in output


def test_dev_names_two_settings_given_one_port(tmp_path):
    ports = _free_ports()
    dev = _start_dev({**ports, "PORT": ports["SANDBOX_PORT"]}, tmp_path / "dev.json")
    output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 1
    assert f"PORT and SANDBOX_PORT name the same port, {ports['SANDBOX_PORT']}: give each its own" in output
    assert "Traceback" not in output and "Connection in use" not in output


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


def test_dev_turns_background_sync_on_for_the_dev_uids_and_keeps_a_developers_choice(stack, flag):
    from common.product import flags
    from local.dev_flags import DEV_UIDS, seed_dev_flags

    new_providers = ["integration_asana_enabled", "integration_microsoft_enabled", "integration_notion_enabled"]
    seeded = seed_dev_flags()  # an empty database: the defaults, then the overrides
    assert seeded == {name: list(DEV_UIDS) for name in [flags.AUTO_SYNC_FLAG, *new_providers]}
    flags.reset_cache()
    assert all(flags.is_enabled(name, uid) for name in seeded for uid in DEV_UIDS)
    assert not any(flags.is_enabled(name, "carol") for name in new_providers)  # everyone else follows the rollout

    flag(flags.AUTO_SYNC_FLAG, overrides={"bob": False})
    assert seed_dev_flags()[flags.AUTO_SYNC_FLAG] == ["alice"]
    assert not any(seed_dev_flags().values())
    flags.reset_cache()
    assert flags.is_enabled(flags.AUTO_SYNC_FLAG, "alice") and not flags.is_enabled(flags.AUTO_SYNC_FLAG, "bob")
