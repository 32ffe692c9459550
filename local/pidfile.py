"""What `make dev` started, written to `.local/dev.json` as each process starts, so that a stack
whose `make dev` died without cleaning up (kill -9, a crash) can be found and stopped by `make
stop`, and nothing else: each entry holds a process group id and its leader's start time, and a
group whose leader is gone or was replaced by an unrelated process (pid reuse) is left alone."""

import json
import os
import pathlib

from local.catalog import ROOT
from local.processes import live_members

DEFAULT_PATH = ROOT / ".local" / "dev.json"


def pid_file_path() -> pathlib.Path:
    """DEV_PID_FILE moves it (the tests run their own `make dev` beside a developer's)."""
    return pathlib.Path(os.environ.get("DEV_PID_FILE") or DEFAULT_PATH)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


class PidFile:
    """The record of one `make dev` run: its own pid, its ports, and each child's process group."""

    def __init__(self, path: pathlib.Path, ports: dict[str, int]):
        self.path = path
        self.record = {"pid": os.getpid(), "startTime": start_time(os.getpid()), "ports": ports, "groups": []}
        self._write()

    def add(self, name: str, pid: int) -> None:
        self.record["groups"].append({"name": name, "pgid": pid, "startTime": start_time(pid)})
        self._write()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.record, indent=2))
        temporary.replace(self.path)


def leftovers(path: pathlib.Path) -> dict | None:
    """The record of an earlier run that still has a live process (its own or a child's), else None."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    entries = [{"name": "make dev", "pgid": record.get("pid"), "startTime": record.get("startTime")}, *record.get("groups", [])]
    alive = [entry for entry in entries if _same_process(entry)]
    return {**record, "alive": alive} if alive else None


def _same_process(entry: dict) -> bool:
    """The leader still runs with its recorded start time; or the leader is gone and its group still
    has members (Linux does not hand out a pid that is still a process group's id)."""
    pid = entry.get("pgid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    started = start_time(pid)
    if started is not None:
        return started == entry.get("startTime")
    return entry["name"] != "make dev" and live_members(pid) > 0


def describe(record: dict) -> str:
    names = ", ".join(f"{entry['name']} (pid {entry['pgid']})" for entry in record["alive"])
    ports = ", ".join(f"{name}={port}" for name, port in record.get("ports", {}).items())
    return f"{names}; ports {ports}"
