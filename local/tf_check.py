"""The offline `terraform validate`: every `resource` and `data` block of a module checked against
the provider schemas of local/tf_schema.py. The type must exist in the provider the block uses,
every argument and nested block must exist with its shape (a block written as a block, an argument
as `name = value`, a single block at most once), every required one must be set, literal values must
fit the argument's type, and literal values of enumerated arguments (both branches of a literal
`cond ? "A" : "B"` too) must be among the provider's possible values. And, standing in for the
cycle check of `terraform plan`, no resources, data sources and locals may reference each other
in a loop.

    python -m local.tf_check [infra]   # prints each problem, exit 1 if any
"""

import dataclasses
import difflib
import json
import pathlib
import re
import sys

import hcl2
from hcl2.utils import SerializationOptions

RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
LITERAL_CONDITIONAL = re.compile(r'^\$\{[^"]*\?\s*"([^"$]*)"\s*:\s*"([^"$]*)"\s*\}$')
PARSE_OPTIONS = SerializationOptions(with_comments=False)


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    address: str  # e.g. resource google_pubsub_subscription.push
    path: str  # e.g. push_config.oidc_token.audience; empty for the block itself
    message: str

    def __str__(self) -> str:
        where = f"{self.address}.{self.path}" if self.path else self.address
        return f"{self.file}: {where}: {self.message}"


def _label(raw: str) -> str:
    return raw.strip('"')


def _is_block_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _literals(value) -> list[str]:
    """The literal strings a value can take: a plain string, both branches of a literal conditional."""
    if not isinstance(value, str):
        return []
    if value.startswith('"') and value.endswith('"') and "${" not in value:
        return [value[1:-1]]
    branches = LITERAL_CONDITIONAL.match(value)
    return list(branches.groups()) if branches else []


def _value_problems(value, spec: dict) -> list[str]:
    kind = spec["type"]
    if isinstance(value, dict) and kind != "map":
        return [f"is a {kind}, given an object"]
    if isinstance(value, list) and kind not in ("list", "map") or isinstance(value, list) and kind == "map":
        return [f"is a {kind}, given a list"]
    if kind in ("list", "map") and isinstance(value, str | int | float | bool) and _literals(value):
        return [f"is a {kind}, given a string"]
    problems = []
    literals = [lit for item in (value if isinstance(value, list) else [value]) for lit in _literals(item)]
    if kind == "number":
        problems += [f"is a number, given {lit!r}" for lit in literals if not re.fullmatch(r"-?\d+(\.\d+)?", lit)]
    if kind == "boolean":
        problems += [f"is a boolean, given {lit!r}" for lit in literals if lit not in ("true", "false")]
    if "enum" in spec:
        problems += [f"{lit!r} is not one of {', '.join(spec['enum'])}" for lit in literals if lit not in spec["enum"]]
    return problems


def _check_body(body: dict, node: dict, meta: set[str], report, path: str = "") -> None:
    present = set()
    for key, value in body.items():
        if key.startswith("__") or key in meta:
            continue
        if key == "dynamic":
            for entry in value:
                for raw, spec in entry.items():
                    name = _label(raw)
                    present.add(name)
                    _check_dynamic(name, spec, node, report, path)
            continue
        present.add(key)
        where = f"{path}.{key}" if path else key
        spec = node.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, node, n=1)
            report(where, "unsupported argument" + (f" (did you mean {close[0]}?)" if close else ""))
        elif spec["block"]:
            if not _is_block_list(value):
                report(where, f"is a block: write `{key} {{ ... }}`, not `{key} = ...`")
                continue
            if spec["single"] and len(value) > 1:
                report(where, f"at most one {key} block is allowed, found {len(value)}")
            for block in value:
                _check_body(block, spec["node"], set(), report, where)
        elif _is_block_list(value):
            report(where, f"is an argument: write `{key} = ...`, not a block")
        else:
            for message in _value_problems(value, spec):
                report(where, message)
    for name, spec in node.items():
        if spec["required"] and name not in present:
            what = "block" if spec["block"] else "argument"
            report(f"{path}.{name}" if path else name, f"missing required {what}")


def _check_dynamic(name: str, spec: dict, node: dict, report, path: str) -> None:
    where = f"{path}.{name}" if path else name
    target = node.get(name)
    if target is None or not target["block"]:
        report(where, "dynamic block of something that is not a nested block")
        return
    for content in spec.get("content", []):
        _check_body(content, target["node"], set(), report, where)


def _provider_of(rtype: str, body: dict) -> str:
    explicit = body.get("provider")
    if isinstance(explicit, str):
        return explicit.strip("${}").split(".")[0]
    return rtype.split("_")[0]


def check_text(text: str, filename: str, schemas: dict[str, dict]) -> list[Problem]:
    """Problems of one file's resource and data blocks; `schemas` is keyed by provider local name."""
    problems = []
    parsed = hcl2.loads(text, serialization_options=PARSE_OPTIONS)
    for kind, meta in (("resource", RESOURCE_META), ("data", DATA_META)):
        for block in parsed.get(kind, []):
            for raw_type, named in block.items():
                for raw_name, body in named.items():
                    rtype, name = _label(raw_type), _label(raw_name)
                    address = f"{kind} {rtype}.{name}"

                    def report(path, message, address=address):
                        problems.append(Problem(filename, address, path, message))

                    provider = _provider_of(rtype, body)
                    schema = schemas.get(provider)
                    if schema is None:
                        report("", f"no schema for provider {provider!r}")
                        continue
                    node = schema[kind].get(rtype)
                    if node is None:
                        elsewhere = [p for p, s in schemas.items() if rtype in s[kind]]
                        hint = f"; it is in {elsewhere[0]}: set provider = {elsewhere[0]}" if elsewhere else ""
                        report("", f"not a {kind} type of {schema['provider']} {schema['version']}{hint}")
                        continue
                    _check_body(body, node, meta, report)
    return problems


def check_module(directory: pathlib.Path, schemas: dict[str, dict]) -> list[Problem]:
    return [problem for path in sorted(directory.glob("*.tf")) for problem in check_text(path.read_text(), path.name, schemas)]


REFERENCE = re.compile(r"(?<![\w.])(?:(data)\.)?([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.([a-z_][a-z0-9_-]*)")


def _declarations(directory: pathlib.Path) -> dict[str, str]:
    """Every resource, data source and local of a module, with the text of its body."""
    found = {}
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.loads(path.read_text(), serialization_options=PARSE_OPTIONS)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for raw_type, named in block.items():
                    for raw_name, body in named.items():
                        prefix = "data." if kind == "data" else ""
                        found[f"{prefix}{_label(raw_type)}.{_label(raw_name)}"] = json.dumps(body)
        for block in parsed.get("locals", []):
            found.update({f"local.{name}": json.dumps(value) for name, value in block.items() if not name.startswith("__")})
    return found


def reference_cycles(directory: pathlib.Path) -> list[list[str]]:
    """Groups of resources, data sources and locals that reference each other in a loop, which
    `terraform plan` refuses ("Cycle: ..."): each group sorted, the groups sorted."""
    bodies = _declarations(directory)
    edges = {
        node: {
            target
            for data, first, second in REFERENCE.findall(text)
            for target in [f"{'data.' if data else ''}{first}.{second}"]
            if target in bodies and target != node
        }
        for node, text in bodies.items()
    }
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def main(argv: list[str]) -> int:
    from local.catalog import ROOT
    from local.tf_schema import SchemaError, ensure_all

    directory = pathlib.Path(argv[0]) if argv else ROOT / "infra"
    try:
        schemas = ensure_all()
    except SchemaError as error:
        print(f"Provider schema: {error}", file=sys.stderr)
        return 1
    problems = [str(p) for p in check_module(directory, schemas)]
    problems += ["reference cycle: " + " -> ".join(group) for group in reference_cycles(directory)]
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {directory}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
