"""What each function is (timeouts, weight, GPU, memory), read from stack.yml, the one list faas-cli also reads.

Every part asks this catalog rather than keeping its own table: the scheduler's call timeouts, the
GPU node's functions and the routing of heavy steps all follow stack.yml. It needs PyYAML only, so
the app image, the GPU node and gateway-config/deploy.py can all import it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent
STACK_FILE = PROJECT / "stack.yml"

# Labels of ours in stack.yml (faas-cli passes labels through to the deployed function untouched).
WEIGHT_LABEL = "medialens.weight"
GPU_LABEL = "medialens.gpu"
BATCH_LABEL = "medialens.batches"


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

    @cached_property
    def memory_limit(self) -> int:
        """`limits.memory` in bytes (Kubernetes quantities: 256Mi, 1Gi, 500M); read on every call the host serves."""
        return quantity(self.limits["memory"])

    @cached_property
    def timeout_s(self) -> float:
        """`exec_timeout`: how long one call may run, the scheduler waits exactly this long; read on every call
        the host serves."""
        return seconds(self.environment["exec_timeout"])

    @property
    def heavy(self) -> bool:
        """`medialens.weight: heavy`: slow on the VPS's CPU (light functions never leave it)."""
        return self.labels.get(WEIGHT_LABEL) == "heavy"

    @property
    def gpu(self) -> bool:
        """`medialens.gpu: "true"`: a rented GPU node serves it, so heavy backlog of it may go there."""
        return self.labels.get(GPU_LABEL) == "true"

    @cached_property
    def batched(self) -> bool:
        """`medialens.batches: "true"`: calls that overlap run as one batch (functions/common/batching.py), so a
        call takes a host turn only to run a batch, not as it comes in; read on every call the host serves."""
        return self.labels.get(BATCH_LABEL) == "true"

    @property
    def module(self) -> str:
        """Import path of the handler in this checkout (functions/<name>/handler.py)."""
        relative = self.handler_dir.relative_to(PROJECT)
        return ".".join(relative.parts) + ".handler"


UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3, "": 1}


def quantity(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]i?)?", value.strip()).groups()  # type: ignore[union-attr]
    return int(number) * UNITS[unit or ""]


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str | int | float) -> float:
    """Go-style durations as faas-cli and the watchdog read them: 30s, 2m, 1m30s, 500ms."""
    if isinstance(duration, int | float):
        return float(duration)
    text = duration.strip()
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{duration!r} is not a duration like 30s, 2m or 1m30s")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)


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


@cache
def catalog() -> dict[str, FunctionSpec]:
    """The project's stack.yml, read once per process (it does not change under a running service)."""
    return functions()


def spec(name: str) -> FunctionSpec:
    found = catalog().get(name)
    if found is None:
        raise KeyError(f"no function {name!r} in stack.yml; it lists {sorted(catalog())}")
    return found


def gpu_functions() -> list[str]:
    """The functions a GPU node serves: those stack.yml labels `medialens.gpu: "true"`."""
    return sorted(name for name, found in catalog().items() if found.gpu)
