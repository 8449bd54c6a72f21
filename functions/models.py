"""`make models`: fetches the weights no package ships, on a machine with internet.

CLIP ViT-B/32 (content labels, text-to-image search) goes to <model dir>/clip in transformers'
format; facenet's VGGFace2 weights go to <model dir>/facenet. Nothing else in the platform ever
downloads: the engines load from these directories or report themselves not installed.
Function images bake the same directory in (`MEDIALENS_FN_MODEL_DIR`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .common.settings import settings

CLIP_REPO = "openai/clip-vit-base-patch32"
CLIP_FILES = (
    "config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
    "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
)
FACENET_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
FACENET_FILE = "20180402-114759-vggface2.pt"


@dataclass(frozen=True)
class Weights:
    name: str
    directory: str
    fetch: Callable[[Path], None]


def download(url: str, target: Path) -> None:
    """Streams a URL to a file, written whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as part:
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as reply:
                reply.raise_for_status()
                for chunk in reply.iter_bytes(1 << 20):
                    part.write(chunk)
        except BaseException:
            Path(part.name).unlink(missing_ok=True)
            raise
    Path(part.name).replace(target)


def fetch_clip(directory: Path, base_url: str = "https://huggingface.co") -> None:
    for name in CLIP_FILES:
        download(f"{base_url}/{CLIP_REPO}/resolve/main/{name}", directory / name)


def fetch_facenet(directory: Path) -> None:
    download(FACENET_URL, directory / FACENET_FILE)


WEIGHTS = (Weights("clip", "clip", fetch_clip), Weights("facenet", "facenet", fetch_facenet))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make models", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=settings().model_dir)
    parser.add_argument("--only", choices=[w.name for w in WEIGHTS], action="append")
    args = parser.parse_args(argv)
    failed = []
    for weights in WEIGHTS:
        if args.only and weights.name not in args.only:
            continue
        target = args.model_dir / weights.directory
        staging = Path(tempfile.mkdtemp(dir=args.model_dir if args.model_dir.exists() else None))
        try:
            weights.fetch(staging)
        except (httpx.HTTPError, OSError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            failed.append(weights.name)
            print(f"{weights.name}: could not fetch ({exc}); the engine stays 'not installed' until "
                  f"its weights are in {target}", file=sys.stderr)
            continue
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.replace(target)
        print(f"{weights.name}: installed in {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
