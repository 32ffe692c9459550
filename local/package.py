"""`make package`: one self-contained zip per function (its folder, the common package and the
runtime lock as its requirements.txt), byte-for-byte reproducible so its md5 changes only when the
code does. The lock (requirements.lock, `make runtime-lock`) pins every transitive package to the
version of constraints.txt, the set the tests ran, with hashes, so the build installs exactly that."""

import pathlib
import sys
import zipfile

from local.catalog import FUNCTIONS_DIR, ROOT, load_catalog

DIST = ROOT / "dist"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__", ".pytest_cache"}


def _files(folder: pathlib.Path, arc_prefix: str = "") -> list[tuple[pathlib.Path, str]]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix != ".pyc":
            found.append((path, arc_prefix + path.relative_to(folder).as_posix()))
    return found


def build_bundle(name: str, out_dir: pathlib.Path = DIST) -> pathlib.Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.zip"
    entries = _files(FUNCTIONS_DIR / name) + _files(ROOT / "common", "common/")
    entries.append((ROOT / "requirements.lock", "requirements.txt"))
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path, arcname in sorted(entries, key=lambda entry: entry[1]):
            info = zipfile.ZipInfo(arcname, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    return target


def main() -> int:
    for name in load_catalog():
        print(build_bundle(name).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
