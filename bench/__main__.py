"""`make bench`: every measurement in one run, written to BENCHMARKS.md and benchmarks.json."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import api_load, function_images, gpu, hosts, isolation, media, scale, search, stack, startup

PROJECT = Path(__file__).resolve().parent.parent
SECTIONS: list[tuple[str, str, ModuleType]] = [
    ("platform", "The platform around the models: gateway, latency, throughput, memory", stack),
    ("startup", "`make up` from stopped to healthy", startup),
    ("media", "Video and audio", media),
    ("search", "Search", search),
    ("isolation", "Workspaces: what isolation costs", isolation),
    ("gpu", "GPU burst (a simulated day against the real scheduler)", gpu),
    ("images", "Function images: installed size and peak memory against their limits", function_images),
    ("api", "The web API under load", api_load),
    ("hosts", "Workers on more hosts (network namespaces on this machine)", hosts),
    ("scale", "Scale: a batch of 10,000 uploads against one of 1,000", scale),
]


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {cores} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    """Measures the sections named (all by default), writing the files after each; sections not named keep
    their last figures. `--render` measures nothing: it writes BENCHMARKS.md again from benchmarks.json, as
    this code words it."""
    chosen = set() if argv == ["--render"] else set(argv) or {name for name, _, _ in SECTIONS}
    unknown = chosen - {name for name, _, _ in SECTIONS}
    if unknown:
        print(f"unknown sections {sorted(unknown)}; choose from {[n for n, _, _ in SECTIONS]}", file=sys.stderr)
        return 2
    stored = PROJECT / "benchmarks.json"
    results: dict[str, Any] = json.loads(stored.read_text()) if stored.exists() else {}
    results["machine"] = machine()
    for name, _, module in SECTIONS:
        if name not in chosen:
            continue
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        run: Callable[[], dict[str, Any]] = module.run
        results[name] = run()
        results[name]["bench_seconds"] = round(time.perf_counter() - started, 1)
        results[name]["date"] = time.strftime("%Y-%m-%d %H:%M")
        write(results, stored)  # each section as it ends: one that fails later loses none of it
    if not chosen:
        write(results, stored)
    return 0


def write(results: dict[str, Any], stored: Path) -> None:
    parts = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {results['machine']}. Every figure in a section comes from the same run "
        "(its date is under its title); ratios matter more than absolute times on shared machines.",
    ]
    for name, title, module in SECTIONS:
        if name in results:
            parts += ["", f"## {title}", "", f"_Measured {results[name]['date']}._", "",
                      module.markdown(results[name])]
    replace(stored, json.dumps(results, indent=2, default=float) + "\n")
    replace(PROJECT / "BENCHMARKS.md", "\n".join(parts) + "\n")
    print("wrote BENCHMARKS.md and benchmarks.json", file=sys.stderr)


def replace(path: Path, text: str) -> None:
    """The file's new text in one step: a run killed while writing leaves the figures stored before it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
