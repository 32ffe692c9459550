"""Every secret a function's code can read is granted to that function's account (functions.json
`secrets`, which Terraform turns into secret-level accessor grants), found by following the imports
from its main.py through `common` and collecting the secret reads on the way."""

import ast
import json
import pathlib
import re

import pytest

from common.providers import provider, services
from common.providers.catalogue import BUILT_IN
from local.catalog import FUNCTIONS_DIR, ROOT, client_families, load_catalog

CATALOG = load_catalog()
PROVIDERS = json.loads(BUILT_IN.read_text())
LITERAL_READ = re.compile(r'get_secret\(\s*"([A-Z0-9_]+)"\s*\)')


def _imported_modules(path: pathlib.Path) -> set[pathlib.Path]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "common":
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.split(".")[0] == "common"]
        for name in names:
            module = ROOT / name.replace(".", "/")
            found |= {candidate for candidate in (module.with_suffix(".py"), module / "__init__.py") if candidate.is_file()}
    return found


# The configuration check reads each secret whose setting is set, and Terraform sets a function's
# secret settings only for the secrets it is granted: what it imports to parse them reads nothing more.
READS_ONLY_WHAT_IS_SET = ROOT / "common" / "serving" / "config_check.py"


def reachable(main: pathlib.Path) -> set[pathlib.Path]:
    seen, todo = set(), [main]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            if path != READS_ONLY_WHAT_IS_SET:
                todo += _imported_modules(path)
    return seen


def secrets_read(path: pathlib.Path, for_services: tuple[str, ...] | None = None) -> set[str]:
    """Secret reads in one module; the generic client-secret read counts for the given services."""
    text = path.read_text()
    reads = set(LITERAL_READ.findall(text))
    if "get_secret(spec.client_secret_setting)" in text:
        reads |= {provider(service).client_secret_setting for service in for_services or services()}
    if path.name == "crypto.py" and "get_secret(" in text:
        reads.add("TOKEN_KEY_RING")
    return reads


def granted(name: str) -> set[str]:
    """Its own secrets and, every family being offered here, the client secrets infra/main.tf adds."""
    families = client_families(CATALOG[name], list(PROVIDERS["families"]))
    return set(CATALOG[name].get("secrets", [])) | {PROVIDERS["families"][f]["client"]["secret_setting"] for f in families}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_secret_a_function_reads_is_granted(name):
    modules = reachable(FUNCTIONS_DIR / name / "main.py")
    used = CATALOG[name].get("services", services())  # whose tokens it uses, when the catalog says
    reads = set().union(*(secrets_read(path, used) for path in modules))
    assert reads <= granted(name), f"{name} reads {sorted(reads)} but is granted {sorted(granted(name))}"


def test_the_scan_sees_the_reads():
    assert secrets_read(ROOT / "common" / "webhooks" / "slack_ingress.py") == {"SLACK_SIGNING_SECRET"}
    assert secrets_read(ROOT / "common" / "tokens" / "crypto.py") == {"TOKEN_KEY_RING"}
    assert secrets_read(ROOT / "common" / "oauth" / "oauth_client.py") == {
        family["client"]["secret_setting"] for family in PROVIDERS["families"].values()
    }


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_function_that_can_publish_analytics_may(name):
    if ROOT / "common" / "product" / "analytics.py" in reachable(FUNCTIONS_DIR / name / "main.py"):
        assert "analytics-events" in CATALOG[name].get("publishes", []), name
