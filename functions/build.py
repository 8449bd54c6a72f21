"""Build contexts of the function images, made as faas-cli makes them (`faas-cli build --shrinkwrap`).

faas-cli copies `template/<lang>/` to `build/<fn>/`, lays the handler folder over
`build/<fn>/function/` (skipping folders named `build` and `template`), and copies every
`configuration.copy` path to `build/<fn>/function/<path>`. The image then runs `python index.py`
from that folder with `PYTHONPATH=/home/app:/home/app/function`. The tests and the bench start
functions from contexts made here, so what they run is what faasd runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .catalog import PROJECT, STACK_FILE, FunctionSpec, functions, shared_paths

SKIPPED = {"build", "template"}


def build_context(spec: FunctionSpec, target: Path, stack: Path = STACK_FILE) -> Path:
    """Writes ``spec``'s build context to ``target`` (replaced if present) and returns it."""
    root = stack.parent
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root / "template" / spec.lang, target)
    function = target / "function"
    function.mkdir(exist_ok=True)
    for entry in sorted(spec.handler_dir.iterdir()):
        if entry.name in SKIPPED:
            continue
        if entry.is_dir():
            shutil.copytree(entry, function / entry.name, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, function / entry.name)
    for path in shared_paths(stack):
        source = (root / path).resolve()
        if not source.is_relative_to(root.resolve()):
            raise ValueError(f"configuration.copy path {path!r} leaves the project")
        destination = function / source.relative_to(root.resolve())
        shutil.copytree(source, destination, dirs_exist_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.build", description=__doc__)
    parser.add_argument("names", nargs="*", help="functions to build (all when none)")
    parser.add_argument("--out", type=Path, default=PROJECT / "build")
    args = parser.parse_args(argv)
    catalog = functions()
    for name in args.names or sorted(catalog):
        print(build_context(catalog[name], args.out / name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
