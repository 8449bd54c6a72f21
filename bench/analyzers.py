"""Speed of the image analyzers: warm ms per 640 px image, cold start, peak memory, CPU per image.

Each analyzer runs in a fresh Python process, so its cold start (imports + model load) and peak
RSS are its own. Inside that process every image goes through the function's real ``analyze``
(decode, resize, inference, result), only the fetch is replaced by the bytes in hand.
Run alone: ``.venv/bin/python -m bench.analyzers`` prints a markdown table.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ANALYZERS = ("pose", "ocr", "nsfw", "faces", "clip")
LONG_SIDE = 640
REPEATS = 3
TEXT = [
    ["Quarterly report 2024", "Revenue grew 12% to EUR 4.1 million", "Next review: 14 March"],
    ["PARKING ONLY", "Monday to Friday 8am - 6pm", "Violators will be towed"],
]


def sample_images() -> dict[str, bytes]:
    """640 px JPEGs: half people (portraits, full body), half text, and scenes with neither."""
    import matplotlib
    import skimage.data
    from PIL import Image, ImageDraw, ImageFont

    faces = Path(__file__).resolve().parent.parent / "tests" / "data" / "faces"
    photos = {
        "camera": Image.fromarray(skimage.data.camera()),
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "grace_hopper": Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"),
        "obama": Image.open(faces / "obama.jpg"),
        "coffee": Image.fromarray(skimage.data.coffee()),
        "chelsea": Image.fromarray(skimage.data.chelsea()),
    }
    font_file = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for number, lines in enumerate(TEXT):
        font = ImageFont.truetype(str(font_file), 32)
        page = Image.new("RGB", (LONG_SIDE, 360), "white")
        draw = ImageDraw.Draw(page)
        for row, line in enumerate(lines):
            draw.text((30, 40 + row * 90), line, font=font, fill="black")
        photos[f"text{number + 1}"] = page
    photos["page"] = Image.fromarray(skimage.data.page())
    encoded = {}
    for name, image in photos.items():
        image = image.convert("RGB")
        scale = LONG_SIDE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        encoded[name] = buffer.getvalue()
    return encoded


def measure(name: str, images: list[bytes]) -> dict[str, Any]:
    """Runs in the worker process: loads one analyzer, then times it on every image."""
    from functions.common import contract, transfer

    class LocalRequest(contract.Request):
        def __init__(self, data: bytes) -> None:
            super().__init__(source_url="memory")
            self.data = data

        def fetch_source(self) -> transfer.Source:
            return self.data

    started = time.perf_counter()
    handler = importlib.import_module(f"functions.{name}.handler")
    try:
        handler.load()
    except contract.ModelNotInstalled as exc:
        return {"analyzer": name, "not_installed": str(exc)}
    cold = time.perf_counter() - started
    for data in images:
        handler.analyze(LocalRequest(data))
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(REPEATS):
        for data in images:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            handler.analyze(LocalRequest(data))
            wall.append((time.perf_counter() - wall_start) * 1000)
            cpu.append((time.process_time() - cpu_start) * 1000)
    engine = handler.analyze(LocalRequest(images[0]))["engine"]
    return {
        "analyzer": name,
        "engine": engine["engine"],
        "ms_per_image": round(statistics.median(wall), 1),
        "cpu_ms_per_image": round(statistics.median(cpu), 1),
        "cpu_ms_mean": round(statistics.fmean(cpu), 1),
        "cold_start_s": round(cold, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "images": len(images),
    }


def run(images: list[bytes] | None = None, analyzers: tuple[str, ...] = ANALYZERS) -> dict[str, Any]:
    """Measures each analyzer in its own process; returns per-analyzer rows and the CPU bound."""
    chosen = images or list(sample_images().values())
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "images.pickle"
        path.write_bytes(pickle.dumps(chosen))
        for name in analyzers:
            finished = subprocess.run(
                [sys.executable, "-m", "bench.analyzers", "--worker", name, str(path)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "MEDIALENS_FN_THREADS": os.environ.get("MEDIALENS_FN_THREADS", "1")},
            )
            if finished.returncode != 0:
                rows[name] = {"analyzer": name, "error": finished.stderr.strip().splitlines()[-1:]}
                continue
            rows[name] = json.loads(finished.stdout.strip().splitlines()[-1])
    measured = [row for row in rows.values() if "cpu_ms_mean" in row]
    cpu_per_image = sum(row["cpu_ms_mean"] for row in measured)
    cores = len(os.sched_getaffinity(0))
    bound = round(cores * 3_600_000 / cpu_per_image) if cpu_per_image else None
    return {
        "analyzers": rows,
        "images": len(chosen),
        "long_side": LONG_SIDE,
        "cores": cores,
        "cpu_ms_per_image_all_analyzers": round(cpu_per_image, 1),
        "inference_bound_images_per_hour": bound,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Per analyzer, {result['images']} images at {result['long_side']} px long side, one thread, "
        f"warm median of {REPEATS} passes; cold start and peak RSS in a fresh process.",
        "",
        "| analyzer | engine | ms / image | CPU ms / image | cold start s | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["analyzers"].items():
        if "ms_per_image" in row:
            lines.append(
                f"| {name} | {row['engine']} | {row['ms_per_image']} | {row['cpu_ms_per_image']} "
                f"| {row['cold_start_s']} | {row['peak_rss_mb']} |"
            )
        else:
            reason = row.get("not_installed") or row.get("error")
            lines.append(f"| {name} | not measured: {reason} | | | | |")
    lines += [
        "",
        f"Inference bound: {result['cpu_ms_per_image_all_analyzers']} CPU ms per image for all analyzers "
        f"(mean), so at most {result['inference_bound_images_per_hour']} images per hour on "
        f"{result['cores']} cores.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--worker"]:
        images = pickle.loads(Path(argv[2]).read_bytes())
        print(json.dumps(measure(argv[1], images)))
        return
    print(markdown(run(analyzers=tuple(argv) or ANALYZERS)))


if __name__ == "__main__":
    main(sys.argv[1:])
