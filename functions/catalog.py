"""The functions this project deploys, read from stack.yml (the one list faas-cli also reads)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent
STACK_FILE = PROJECT / "stack.yml"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    lang: str
    handler_dir: Path
    image: str
    labels: dict[str, str]
    annotations: dict[str, str]
    environment: dict[str, str]
    limits: dict[str, str]

    @property
    def memory_limit(self) -> int:
        """`limits.memory` in bytes (Kubernetes quantities: 256Mi, 1Gi, 500M)."""
        return quantity(self.limits["memory"])

    @property
    def module(self) -> str:
        """Import path of the handler in this checkout (functions/<name>/handler.py)."""
        relative = self.handler_dir.relative_to(PROJECT)
        return ".".join(relative.parts) + ".handler"


UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3, "": 1}


def quantity(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]i?)?", value.strip()).groups()  # type: ignore[union-attr]
    return int(number) * UNITS[unit or ""]


VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand(value: str) -> str:
    """`${NAME:-default}` as faas-cli substitutes it from the environment."""
    return VARIABLE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)


def load_stack(path: Path = STACK_FILE) -> dict[str, Any]:
    with open(path) as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def shared_paths(path: Path = STACK_FILE) -> list[str]:
    """`configuration.copy`: what faas-cli copies into every function's build context."""
    configuration = load_stack(path).get("configuration") or {}
    return [str(item) for item in configuration.get("copy") or []]


def functions(path: Path = STACK_FILE) -> dict[str, FunctionSpec]:
    stack = load_stack(path)
    found = {}
    for name, spec in (stack.get("functions") or {}).items():
        found[name] = FunctionSpec(
            name=name,
            lang=str(spec.get("lang", "")),
            handler_dir=(path.parent / spec["handler"]).resolve(),
            image=expand(str(spec.get("image", ""))),
            labels={k: str(v) for k, v in (spec.get("labels") or {}).items()},
            annotations={k: str(v) for k, v in (spec.get("annotations") or {}).items()},
            environment={k: str(v) for k, v in (spec.get("environment") or {}).items()},
            limits={k: str(v) for k, v in (spec.get("limits") or {}).items()},
        )
    return found
