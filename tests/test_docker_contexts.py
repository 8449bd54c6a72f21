"""Every path a Dockerfile of the project copies is in its build context, not left out by its ignore file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.catalog import PROJECT

# (Dockerfile, its build context, the ignore file BuildKit reads for it)
IMAGES = {
    "gpu-node": (PROJECT / "gpu-node" / "Dockerfile", PROJECT, PROJECT / "gpu-node" / "Dockerfile.dockerignore"),
    "app": (PROJECT / "Dockerfile", PROJECT, PROJECT / ".dockerignore"),
}


def copied_paths(dockerfile: Path) -> list[str]:
    """Sources of every COPY without --from (those come from the context)."""
    sources = []
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words[1:-1] if not word.startswith("--")]
    return sources


def _pattern(glob: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\*\*/?|\*|\?)", glob.strip("/")):
        regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(regex)


def ignored(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or a folder above it decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    verdict = False
    for rule in rules:
        negated = rule.startswith("!")
        if any(_pattern(rule.removeprefix("!")).fullmatch(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict


def ignore_rules(file: Path) -> list[str]:
    lines = file.read_text().splitlines() if file.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_ignore_rules_follow_docker() -> None:
    rules = ["*", "!functions/", "**/__pycache__"]
    assert ignored("tests/conftest.py", rules)
    assert not ignored("functions/clip/handler.py", rules)
    assert ignored("functions/clip/__pycache__/handler.pyc", rules)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_copied_path_is_in_the_build_context(image: str) -> None:
    dockerfile, context, ignore = IMAGES[image]
    rules = ignore_rules(ignore)
    sources = copied_paths(dockerfile)
    assert sources, f"{dockerfile} copies nothing?"
    missing = [source for source in sources if not any(context.glob(source.rstrip("/")))]
    left_out = [source for source in sources if ignored(source, rules)]
    assert not missing, f"{image} copies paths that do not exist: {missing}"
    assert not left_out, f"{image} copies paths its ignore file leaves out: {left_out}"
