"""`make models`: fetches the weights no package ships and puts them where the functions read them.

Each model is downloaded once into a cache (`.models/<model>`, in transformers' or facenet's own
format). Every function whose stack.yml label `medialens.models` names that model then gets it in
its own `weights/` folder, beside its handler, as hard links (no second copy on disk). faas-cli
copies that folder into the function's image (`/home/app/function/weights`), the GPU node image
copies `functions/` whole, and the functions host reads the same folders in place. Nothing else in
the platform downloads: an engine whose weights are missing reports itself not installed.

`--missing` (what `make up` runs) fetches only what is not there yet and, when the machine has no
internet, says once what stays off and how to get it, without failing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from .catalog import PROJECT, functions
from .common.settings import WEIGHTS

CACHE = PROJECT / ".models"
CLIP_REPO = "openai/clip-vit-base-patch32"
CLIP_FILES = (
    "config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
    "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
)
BLIP_REPO = "Salesforce/blip-image-captioning-base"
BLIP_FILES = (
    "config.json", "model.safetensors", "preprocessor_config.json", "special_tokens_map.json",
    "tokenizer.json", "tokenizer_config.json", "vocab.txt",
)
INSTRUCT_REPO = "Qwen/Qwen2.5-0.5B-Instruct"
INSTRUCT_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "vocab.json", "merges.txt",
)
FACENET_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
FACENET_FILE = "20180402-114759-vggface2.pt"
LABEL = "medialens.models"


@dataclass(frozen=True)
class Weights:
    name: str
    files: tuple[str, ...]
    fetch: Callable[[Path], None]
    without: str  # what stays off while these weights are missing

    def installed(self, directory: Path) -> bool:
        return all((directory / name).is_file() for name in self.files)


class Progress:
    """One line per file that counts up while it downloads (redrawn in place on a terminal)."""

    def __init__(self, label: str, total: int, out: TextIO = sys.stderr) -> None:
        self.label, self.total, self.out, self.done, self.shown = label, total, out, 0, -1
        self.live = out.isatty()

    def advance(self, size: int) -> None:
        self.done += size
        percent = int(self.done * 100 / self.total) if self.total else 0
        if self.live and percent != self.shown:
            self.out.write(f"\r  {self.label}: {percent:3d} % of {self.total / 1e6:.0f} MB")
            self.shown = percent

    def close(self) -> None:
        ending = "\n" if self.live else f"  {self.label}: {self.done / 1e6:.1f} MB\n"
        self.out.write(ending)


def download(url: str, target: Path) -> None:
    """Streams a URL to a file, written whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as part:
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as reply:
                reply.raise_for_status()
                progress = Progress(target.name, int(reply.headers.get("Content-Length") or 0))
                for chunk in reply.iter_bytes(1 << 20):
                    part.write(chunk)
                    progress.advance(len(chunk))
                progress.close()
        except BaseException:
            Path(part.name).unlink(missing_ok=True)
            raise
    Path(part.name).replace(target)


def fetch_hub(repo: str, files: tuple[str, ...], directory: Path, base_url: str = "https://huggingface.co") -> None:
    for name in files:
        download(f"{base_url}/{repo}/resolve/main/{name}", directory / name)


def fetch_clip(directory: Path, base_url: str = "https://huggingface.co") -> None:
    fetch_hub(CLIP_REPO, CLIP_FILES, directory, base_url)


def fetch_blip(directory: Path) -> None:
    fetch_hub(BLIP_REPO, BLIP_FILES, directory)


def fetch_instruct(directory: Path) -> None:
    fetch_hub(INSTRUCT_REPO, INSTRUCT_FILES, directory)


def fetch_facenet(directory: Path) -> None:
    download(FACENET_URL, directory / FACENET_FILE)


WEIGHTS_LIST = (
    Weights("clip", CLIP_FILES, fetch_clip, "content labels, description search and CLIP image search"),
    Weights("blip", BLIP_FILES, fetch_blip, "captions of pictures and keyframes (the local caption engine)"),
    Weights("instruct", INSTRUCT_FILES, fetch_instruct, "summaries, titles and chapters (the local summarize engine)"),
    Weights("facenet", (FACENET_FILE,), fetch_facenet, "the facenet face embedder (dlib stays the default)"),
)


def users(model: str) -> list[Path]:
    """The handler folders of the functions whose stack.yml label names ``model``."""
    return [
        spec.handler_dir
        for spec in functions().values()
        if model in [name.strip() for name in spec.labels.get(LABEL, "").split(",")]
    ]


def place(source: Path, function_folder: Path, model: str) -> Path:
    """Puts a model into a function's weights/ folder as hard links (a copy across file systems)."""
    target = function_folder / WEIGHTS / model
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in sorted(source.iterdir()):
        if not file.is_file():
            continue
        try:
            os.link(file, target / file.name)
        except OSError:
            shutil.copy2(file, target / file.name)
    return target


def fetch(weights: Weights, target: Path) -> None:
    """Downloads into a staging folder beside ``target`` and swaps it in only when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{weights.name}-"))
    try:
        weights.fetch(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make models", description=__doc__)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where downloads are kept")
    parser.add_argument("--only", choices=[w.name for w in WEIGHTS_LIST], action="append")
    parser.add_argument("--missing", action="store_true", help="fetch only what is missing; never fail")
    args = parser.parse_args(argv)
    failed = []
    for weights in WEIGHTS_LIST:
        if args.only and weights.name not in args.only:
            continue
        cached = args.cache / weights.name
        if not (args.missing and weights.installed(cached)):
            print(f"{weights.name}: fetching into {cached}", file=sys.stderr)
            try:
                fetch(weights, cached)
            except (httpx.HTTPError, OSError) as exc:
                failed.append(weights.name)
                print(f"{weights.name}: could not fetch ({exc}). Until its weights are in {cached}, "
                      f"{weights.without} stay off: run `make models` on a machine with internet, or copy "
                      f"that folder from one, then `make models` again here.", file=sys.stderr)
                continue
        for folder in users(weights.name):
            placed = place(cached, folder, weights.name)
            print(f"{weights.name}: installed in {placed.relative_to(PROJECT)}")
    return 0 if args.missing or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
