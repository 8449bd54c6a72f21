"""Each function image's requirements resolve as its Dockerfile installs them: one torch, one owner per file.

pip's resolver runs in dry-run with the template's own install steps (read from its Dockerfile) on
the build context faas-cli makes; every resolved wheel's RECORD is read to find files that two
distributions would both write (opencv-python-headless and opencv-contrib-python both own cv2/).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from bench.function_images import PINNED, install_steps, resolve_image, wheel_files
from functions.build import build_context
from functions.catalog import functions

CATALOG = functions()


def test_the_template_installs_a_no_deps_file() -> None:
    assert install_steps() == [
        ("requirements.txt", True),
        ("function/requirements.txt", True),
        ("function/requirements-no-deps.txt", False),
    ]


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheels")


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_image_resolves_with_one_torch_and_one_owner_per_file(
    name: str, tmp_path: Path, downloads: Path
) -> None:
    context = build_context(CATALOG[name], tmp_path / name)
    resolved = resolve_image(context, tmp_path)
    for package, version in PINNED.items():
        if package in resolved:
            assert resolved[package]["metadata"]["version"].split("+")[0] == version, package
    owners: dict[str, list[str]] = defaultdict(list)
    for key, item in resolved.items():
        for path, _ in wheel_files(item, downloads):
            owners[path].append(key)
    shared = {path: names for path, names in owners.items() if len(names) > 1}
    assert not shared, f"files written by two packages: {dict(list(shared.items())[:5])}"
