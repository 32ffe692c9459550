"""The official Firestore and Pub/Sub emulators, started through the Google Cloud CLI on loopback
ports and stopped with their Java processes. The Firestore emulator enforces the deployed security
rules (infra/firestore.rules) on client SDK requests; the server clients pass as its owner."""

import pathlib
import shutil

import requests

from local.processes import Child, free_port, port_is_free, wait_until

START_TIMEOUT = 90
RULES = pathlib.Path(__file__).resolve().parent.parent / "infra" / "firestore.rules"


class Emulators:
    """Both emulators; use as a context manager, or call stop()."""

    def __init__(
        self,
        project: str,
        log_dir: pathlib.Path,
        firestore_port: int | None = None,
        pubsub_port: int | None = None,
        on_start=None,
    ):
        gcloud = shutil.which("gcloud")
        if not gcloud:
            raise RuntimeError("gcloud is not on PATH: install the Google Cloud CLI with the emulators")
        self.project = project
        self.firestore_host = f"127.0.0.1:{_port(firestore_port, 'Firestore emulator', 'FIRESTORE_EMULATOR_PORT')}"
        self.pubsub_host = f"127.0.0.1:{_port(pubsub_port, 'Pub/Sub emulator', 'PUBSUB_EMULATOR_PORT')}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        try:
            self.children.append(
                Child(
                    "firestore",
                    [
                        gcloud,
                        "emulators",
                        "firestore",
                        "start",
                        f"--host-port={self.firestore_host}",
                        f"--rules={RULES}",
                        "--quiet",
                    ],
                    log_dir / "firestore-emulator.log",
                    on_start=on_start,
                )
            )
            self.children.append(
                Child(
                    "pubsub",
                    [
                        gcloud,
                        "beta",
                        "emulators",
                        "pubsub",
                        "start",
                        f"--host-port={self.pubsub_host}",
                        f"--project={project}",
                        "--quiet",
                    ],
                    log_dir / "pubsub-emulator.log",
                    on_start=on_start,
                )
            )
            for child, host in zip(self.children, (self.firestore_host, self.pubsub_host), strict=True):
                wait_until(
                    lambda h=host: requests.get(f"http://{h}/", timeout=1).ok, START_TIMEOUT, child, f"{child.name} emulator"
                )
        except BaseException:
            self.stop()
            raise

    @property
    def env(self) -> dict[str, str]:
        return {
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "GCP_PROJECT": self.project,
        }

    def reset_firestore(self) -> None:
        """Delete every document (the emulator's reset endpoint)."""
        url = f"http://{self.firestore_host}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        requests.delete(url, timeout=10).raise_for_status()

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _port(port: int | None, what: str, setting: str) -> int:
    if port is None:
        return free_port()
    if not port_is_free(port):
        raise RuntimeError(f"port {port} for the {what} is in use: stop what holds it or set {setting} to another port")
    return port
