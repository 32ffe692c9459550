"""The function catalog (infra/functions.json): the one map of definitions that Terraform
deploys from and the local host serves from, so the two cannot drift."""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATALOG_PATH = ROOT / "infra" / "functions.json"
TOPICS_PATH = ROOT / "infra" / "topics.json"
FUNCTIONS_DIR = ROOT / "functions"


def load_catalog(path: pathlib.Path = CATALOG_PATH) -> dict:
    return json.loads(path.read_text())


def load_topics(path: pathlib.Path = TOPICS_PATH) -> list[str]:
    return json.loads(path.read_text())


def consumers(catalog: dict) -> dict[str, str]:
    """Pub/Sub-triggered functions and the topic each consumes."""
    return {name: spec["pubsub"]["topic"] for name, spec in catalog.items() if "pubsub" in spec}


def client_families(spec: dict, offered: list[str]) -> list[str]:
    """The offered provider families whose client secret a function is granted (its
    "provider_clients": family names, or "*" for all), as infra/main.tf computes them."""
    named = spec.get("provider_clients", [])
    return [family for family in offered if "*" in named or family in named]
