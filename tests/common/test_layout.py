"""common/ is grouped by concern so the architecture shows in the tree: no module sits loose at the
top, each package says what it owns, and imports run only downward (so there are no cycles)."""

import ast
import pathlib

from local.catalog import ROOT

COMMON = ROOT / "common"
# Lowest first: a package may import those before it, never one after it.
ORDER = [
    "platform",
    "stores",
    "providers",
    "product",
    "oauth",
    "tokens",
    "serving",
    "webhooks",
    "sync",
    "connect",
    "access",
    "privacy",
]


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("common."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("common.")}
    return found


def test_every_module_is_in_a_package_and_every_package_is_ordered():
    assert [path.name for path in COMMON.glob("*.py")] == ["__init__.py"]
    packages = {path.name for path in COMMON.iterdir() if (path / "__init__.py").is_file()}
    assert packages == set(ORDER)


def test_each_package_says_what_it_owns():
    for package in ORDER:
        doc = ast.get_docstring(ast.parse((COMMON / package / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 15, f"common/{package}/__init__.py needs a paragraph on what it owns"


def test_imports_only_run_downward():
    upward = [
        f"{path.relative_to(ROOT)} imports common.{target}"
        for package in ORDER
        for path in (COMMON / package).rglob("*.py")
        for target in _imports(path)
        if ORDER.index(target) > ORDER.index(package)
    ]
    assert upward == []


def test_the_docs_list_the_packages_in_their_order():
    for page in (ROOT / "README.md", ROOT / "docs" / "architecture.md", ROOT / "common" / "__init__.py"):
        text = page.read_text()
        text = text[text.find("## Layout") :] if page.name == "README.md" else text  # its layout section
        positions = [text.find(f"{package}/" if page.suffix == ".md" else package) for package in ORDER]
        assert -1 not in positions and positions == sorted(positions), page
