"""The Terraform providers' schemas, offline: the npm packages of the prebuilt CDKTF bindings carry
every resource and data source of a provider version in their jsii assembly (`.jsii`). Fetched once
with npm into a cache outside the repo and compiled to a small JSON schema, they let `make test` do
what `terraform validate` does with the provider binaries, which cannot be downloaded here.

    python -m local.tf_schema   # fetch and compile every schema that infra/ needs (make test does)
"""

import base64
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

FORMAT = 1  # bump when the compiled layout changes, so stale caches are rebuilt


@dataclasses.dataclass(frozen=True)
class Binding:
    """One provider version and the npm package generated from exactly that version."""

    provider: str  # registry address without host, e.g. hashicorp/google
    version: str
    package: str
    package_version: str
    integrity: str  # npm's sha512 of the tarball (npm view <package>@<version> dist.integrity)


# Each package's README names the provider version it was generated from ("CDKTF prebuilt bindings
# for hashicorp/google provider version 6.50.0"); compile() refuses a package whose README disagrees.
BINDINGS = {
    "google": Binding(
        "hashicorp/google",
        "6.50.0",
        "@cdktf/provider-google",
        "16.12.1",
        "sha512-KqNA/5RiFT07r0PSZ6/07cJ2zESUgbj1JchVj21iBFBZVUbD+578xA/k8eq/r0cbyEgLmg9eYWeVslaYah4DCQ==",
    ),
    "google-beta": Binding(
        "hashicorp/google-beta",
        "6.50.0",
        "@cdktf/provider-google-beta",
        "16.12.1",
        "sha512-ip0dXu0ZrsyMgcoGNfkJCYG8PFjNtfb2wkz4Sw7IU09rQMK/A6++SwkmFHl8wJ8KlwMvd2w4tNXfErIbWWWqag==",
    ),
    "time": Binding(
        "hashicorp/time",
        "0.13.1",
        "@cdktf/provider-time",
        "11.0.1",
        "sha512-FI0xFIcfF7U0t+pk7NNNJujiCxIOw6wL0I61/LEgPC59WWcGVrRPdj5F7YvEEpgcWkse6YrYc9soumsTQa5WYg==",
    ),
}

BLOCK_SUMMARY = " block."  # cdktf's summary of every nested block ("build_config block.")
POSSIBLE_VALUES = re.compile(r"Possible values: \[([^\]]*)\]")
DOCS_ANCHOR = re.compile(r"/docs/(?:resources|data-sources)/\w+#(\w+) ")
REPRESENTS = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/[\w-]+/[\w-]+/([\w.]+)"
    r"/docs/(resources|data-sources)/\w+ (\w+)\}"
)
README_VERSION = re.compile(r"CDKTF prebuilt bindings for ([\w-]+/[\w-]+) provider version ([\w.]+)")


class SchemaError(RuntimeError):
    """The schema could not be fetched or does not match the provider version asked for."""


def cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "oauth-webhook-gateway" / "provider-schema"


def schema_path(binding: Binding) -> pathlib.Path:
    return cache_dir() / f"{binding.provider.replace('/', '-')}-{binding.version}.schema.json"


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _fetch_tarball(binding: Binding, into: pathlib.Path) -> pathlib.Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SchemaError(
            "npm is needed once to fetch the provider schemas (Debian/Ubuntu: apt-get install npm); "
            f"it downloads {binding.package}@{binding.package_version} into {cache_dir()}"
        )
    spec = f"{binding.package}@{binding.package_version}"
    result = subprocess.run(
        [npm, "pack", spec, "--silent", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=into,
    )
    if result.returncode != 0:
        raise SchemaError(f"npm pack {spec} failed: {result.stderr.strip()[-500:]}")
    (tarball,) = into.glob("*.tgz")
    found = _integrity(tarball.read_bytes())
    if found != binding.integrity:
        raise SchemaError(f"{spec}: tarball integrity {found} is not the pinned {binding.integrity}")
    return tarball


def _read_members(tarball: pathlib.Path) -> tuple[dict, str]:
    with tarfile.open(tarball) as archive:
        assembly = json.load(archive.extractfile("package/.jsii"))
        readme = archive.extractfile("package/README.md").read().decode()
    return assembly, readme


def _property_node(prop: dict, types: dict) -> tuple[str, dict]:
    """A Config property as (terraform name, attribute or block description)."""
    docs = prop.get("docs", {})
    text = docs.get("summary", "") + "\n" + docs.get("remarks", "")
    anchor = DOCS_ANCHOR.search(text)
    name = anchor.group(1) if anchor else re.sub(r"(?<!^)([A-Z])", r"_\1", prop["name"]).lower()
    required = not prop.get("optional", False)
    kind = prop["type"]
    if docs.get("summary", "").endswith(BLOCK_SUMMARY):
        if "fqn" in kind:
            return name, {"block": True, "required": required, "single": True, "node": _struct(kind["fqn"], types)}
        (listed,) = [t for t in kind["union"]["types"] if "collection" in t]
        return name, {
            "block": True,
            "required": required,
            "single": False,
            "node": _struct(listed["collection"]["elementtype"]["fqn"], types),
        }
    node = {"block": False, "required": required, "type": _attribute_type(kind)}
    values = POSSIBLE_VALUES.search(text)
    if values:
        node["enum"] = json.loads("[" + values.group(1) + "]")
    return name, node


def _attribute_type(kind: dict) -> str:
    if "primitive" in kind:
        return kind["primitive"]
    if "union" in kind:  # boolean | IResolvable
        return next(t["primitive"] for t in kind["union"]["types"] if "primitive" in t)
    return {"array": "list", "map": "map"}[kind["collection"]["kind"]]


def _struct(fqn: str, types: dict) -> dict:
    return dict(_property_node(prop, types) for prop in types[fqn].get("properties", []))


def compile_assembly(assembly: dict, readme: str, binding: Binding) -> dict:
    """{"resource": {type: node}, "data": {type: node}} of the provider version the package was built from."""
    stated = README_VERSION.search(readme)
    if not stated or stated.groups() != (binding.provider, binding.version):
        raise SchemaError(
            f"{binding.package}@{binding.package_version} is built from {stated and stated.groups()}, "
            f"not {binding.provider} {binding.version}"
        )
    types = assembly["types"]
    schema = {"format": FORMAT, "provider": binding.provider, "version": binding.version, "resource": {}, "data": {}}
    for entry in types.values():
        represents = REPRESENTS.search(entry.get("docs", {}).get("summary", "")) if entry["kind"] == "class" else None
        if not represents:
            continue
        version, section, tf_type = represents.groups()
        if version != binding.version:
            raise SchemaError(f"{entry['fqn']} documents version {version}, not {binding.version}")
        config = next(p for p in entry["initializer"]["parameters"] if p["name"] == "config")
        kind = "resource" if section == "resources" else "data"
        schema[kind][tf_type] = _struct(config["type"]["fqn"], types)
    return schema


def ensure_schema(binding: Binding) -> dict:
    """The compiled schema of a binding, fetched and compiled on first use."""
    path = schema_path(binding)
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("format") == FORMAT and cached.get("version") == binding.version:
            return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        assembly, readme = _read_members(_fetch_tarball(binding, pathlib.Path(scratch)))
        schema = compile_assembly(assembly, readme, binding)
        partial = pathlib.Path(scratch) / path.name
        partial.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))
        partial.replace(path)
    return schema


def ensure_all() -> dict[str, dict]:
    """Every provider's schema, keyed by the provider's local name in infra/versions.tf."""
    return {name: ensure_schema(binding) for name, binding in BINDINGS.items()}


def main() -> int:
    try:
        for name, schema in ensure_all().items():
            print(f"{name}: {BINDINGS[name].provider} {schema['version']} ({len(schema['resource'])} resources) in {cache_dir()}")
    except SchemaError as error:
        print(f"Provider schema: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
