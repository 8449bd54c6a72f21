"""Speed of the image analyzers: warm ms per 640 px image, cold start, peak memory, CPU per image; the
inference bound with every core busy; and the summary of a recording.

Each analyzer runs in a fresh Python process, so its cold start (imports + model load) and peak
RSS are its own. Inside that process every image goes through the function's real ``analyze``
(decode, resize, inference, result), only the fetch is replaced by the bytes in hand. The CLIP,
caption and summary models, when `make models` has not put them here, are random weights of the real
size (bench/random_models.py): their cost is the real one, their words are not.
Run alone: ``.venv/bin/python -m bench.analyzers`` prints a markdown table.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import random_models

ANALYZERS = ("pose", "ocr", "nsfw", "faces", "clip", "caption")
SUMMARY_MINUTES = (5, 12)  # a short recording, and one long enough for chapters
LONG_SIDE = 640
REPEATS = 3
# Settings measured beside the defaults: rows of their own, not part of the bound.
VARIANTS = {
    "caption float32": ("caption", {"MEDIALENS_CAPTION_PRECISION": "float32"}),
    "caption int8": ("caption", {"MEDIALENS_CAPTION_PRECISION": "int8"}),
    "clip float32": ("clip", {"MEDIALENS_CLIP_PRECISION": "float32"}),
}
# Caption's pictures captioned together, as calls that overlap are (functions/common/batching.py): rows of their
# own, not part of the bound, which takes each picture alone.
BATCHES = {"caption in twos": 2, "caption in fours": 4}


def sample_images() -> dict[str, bytes]:
    """Each photo and text page of bench/sample_media.py once, as a 640 px JPEG."""
    from bench import sample_media

    pages = {**sample_media.photos(), **sample_media.text_pages(LONG_SIDE)}
    return {name: sample_media.jpeg(image, LONG_SIDE) for name, image in pages.items()}


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM) in MB. Not ru_maxrss: Linux carries that across fork and
    exec, so a worker would report the bench's own peak (the random models it built) when that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM in /proc/self/status")


def in_memory(data: bytes) -> Any:
    """A function request whose source is ``data`` in hand: of the function's work, only the fetch is left out."""
    from functions.common import contract

    request = contract.Request(source_url="memory")
    request.fetch_source = lambda: data  # type: ignore[method-assign]
    return request


def measure(name: str, images: list[bytes]) -> dict[str, Any]:
    """Runs in the worker process: loads one analyzer, then times it on every image."""
    from functions.common import contract

    started = time.perf_counter()
    handler = importlib.import_module(f"functions.{name}.handler")
    try:
        handler.load()
    except contract.ModelNotInstalled as exc:
        return {"analyzer": name, "not_installed": str(exc)}
    cold = time.perf_counter() - started
    for data in images:
        handler.analyze(in_memory(data))
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(REPEATS):
        for data in images:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            handler.analyze(in_memory(data))
            wall.append((time.perf_counter() - wall_start) * 1000)
            cpu.append((time.process_time() - cpu_start) * 1000)
    engine = handler.analyze(in_memory(images[0]))["engine"]
    return {
        "analyzer": name,
        # A setting the engine could not honour (int8 on a GPU) shows here.
        "engine": " ".join(filter(None, (engine["engine"], engine.get("precision")))),
        **figures(wall, cpu, cold, len(images)),
    }


def figures(wall_ms: list[float], cpu_ms: list[float], cold_s: float, images: int) -> dict[str, Any]:
    """A row's figures from its timings per image, its cold start and its images, with this process's peak RSS."""
    return {
        "ms_per_image": round(statistics.median(wall_ms), 1),
        "cpu_ms_per_image": round(statistics.median(cpu_ms), 1),
        "cpu_ms_mean": round(statistics.fmean(cpu_ms), 1),
        "cold_start_s": round(cold_s, 2),
        "peak_rss_mb": peak_rss_mb(),
        "images": images,
    }


def measure_batches(images: list[bytes], size: int) -> dict[str, Any]:
    """Runs in the worker process: caption's engine on ``size`` analysis images at a time, each batch as the
    calls that overlap make it; the figures are per picture."""
    from functions.caption import engines
    from functions.common.images import analysis_image

    started = time.perf_counter()
    engine = engines.engine().load()
    assert isinstance(engine, engines.BlipCaptioner), "batches are the local model's"
    cold = time.perf_counter() - started
    pictures = [analysis_image(in_memory(data)) for data in images]
    groups = [pictures[start:start + size] for start in range(0, len(pictures) - size + 1, size)]
    if not groups:
        raise ValueError(f"{len(pictures)} pictures make no batch of {size}")
    engine.predict_batch(groups[0])
    wall: list[float] = []
    cpu: list[float] = []
    for group in groups:
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        engine.predict_batch(group)
        wall.append((time.perf_counter() - wall_start) * 1000 / size)
        cpu.append((time.process_time() - cpu_start) * 1000 / size)
    return {
        "analyzer": "caption",
        "engine": f"{engine.engine} {engine.precision}, {size} at a time",
        **figures(wall, cpu, cold, len(groups) * size),
    }


def measure_together(names: list[str], images: list[bytes], ready: Path, go: Path) -> dict[str, Any]:
    """Runs in one of several worker processes started at once: loads every analyzer, warms each, says it is
    ready, waits for the word (and gives up if the bench that started it is gone), then puts every image
    through every analyzer in turn."""
    handlers = [importlib.import_module(f"functions.{name}.handler") for name in names]
    for handler in handlers:
        handler.load()
        handler.analyze(in_memory(images[0]))
    ready.touch()
    parent = os.getppid()
    while not go.exists():
        if os.getppid() != parent or not go.parent.exists():
            raise SystemExit("the bench that started this process is gone")
        time.sleep(0.01)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for data in images:
        for handler in handlers:
            handler.analyze(in_memory(data))
    return {"wall_s": time.perf_counter() - wall_start, "cpu_s": time.process_time() - cpu_start,
            "images": len(images)}


def together(
    images: list[bytes], names: list[str], env: dict[str, str], processes: int, ready_s: float = 600.0
) -> dict[str, Any]:
    """The inference bound with every core busy: ``processes`` processes, each with every analyzer loaded, put
    the same images through them at the same moment. Cores running inference side by side can slow each other,
    which a bound from one analyzer at a time, spread over the cores, does not see."""
    with tempfile.TemporaryDirectory() as folder:
        path, go = Path(folder) / "images.pickle", Path(folder) / "go"
        path.write_bytes(pickle.dumps(images))
        started: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
        try:
            for number in range(processes):
                ready, output = Path(folder) / f"ready-{number}", Path(folder) / f"output-{number}"
                with output.open("wb") as sink:
                    started.append((subprocess.Popen(
                        [sys.executable, "-m", "bench.analyzers", "--together", ",".join(names), str(path),
                         str(ready), str(go)], stdout=sink, stderr=subprocess.STDOUT,
                        env=worker_env(env),
                    ), ready, output))
            deadline = time.monotonic() + ready_s
            while not all(ready.exists() for _, ready, _ in started):
                if any(process.poll() is not None for process, _, _ in started) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            go.touch()
            for process, _, _ in started:
                process.wait()
        finally:
            for process, _, _ in started:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        outputs = [(process.returncode, output.read_text(errors="replace").strip().splitlines())
                   for process, _, output in started]
    failed = [f"exit {code}: {lines[-1] if lines else ''}" for code, lines in outputs if code != 0]
    if failed:
        return {"error": failed[0]}
    rows = [json.loads(lines[-1]) for _, lines in outputs]
    images = sum(row["images"] for row in rows)
    wall = max(row["wall_s"] for row in rows)
    return {
        "analyzers": names,
        "processes": processes,
        "images": images,
        "wall_s": round(wall, 1),
        "cpu_ms_per_image": round(sum(row["cpu_s"] for row in rows) / images * 1000, 1),
        "images_per_hour": round(images / wall * 3600),
    }


def model_env(models: random_models.ModelDir) -> dict[str, str]:
    return {"MEDIALENS_FN_MODEL_DIR": str(models.path)}


def side_by_side_processes(cores: int, peak_rss_mb: Iterable[float]) -> int:
    """A process per core, as many as the memory now free holds with every analyzer loaded in each."""
    import psutil

    each = sum(peak_rss_mb) * 2**20
    return max(1, min(cores, int(psutil.virtual_memory().available // each) if each else cores))


def recording(minutes: int) -> dict[str, Any]:
    """A summarize request for a talk of ``minutes``: 150 words a minute in 10 s segments, a caption a minute."""
    words = "the team met on the beach to plan the next release and talk about what the users asked for".split()
    transcript = [
        {"start": float(second), "end": second + 10.0, "text": " ".join(words[(second // 10) % 5:][:25])}
        for second in range(0, minutes * 60, 10)
    ]
    captions = [{"time": float(second), "text": "A group of people sitting at a table."}
                for second in range(0, minutes * 60, 60)]
    return {"transcript": transcript, "captions": captions, "language": "en", "duration": minutes * 60.0}


def measure_summary() -> dict[str, Any]:
    """Runs in the worker process: loads the summarize engine, then times one summary per recording length."""
    from functions.common import contract

    started = time.perf_counter()
    handler = importlib.import_module("functions.summarize.handler")
    try:
        handler.load()
    except contract.ModelNotInstalled as exc:
        return {"analyzer": "summarize", "not_installed": str(exc)}
    row: dict[str, Any] = {"analyzer": "summarize", "cold_start_s": round(time.perf_counter() - started, 2)}
    for minutes in SUMMARY_MINUTES:
        request = contract.Request(source_url=None, options=recording(minutes))
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        result = handler.analyze(request)
        row[f"s_{minutes}_min"] = round(time.perf_counter() - wall_start, 1)
        row[f"cpu_s_{minutes}_min"] = round(time.process_time() - cpu_start, 1)
        row[f"chapters_{minutes}_min"] = len(result["chapters"])
        row["engine"] = result["engine"]["engine"]
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def worker_env(env: dict[str, str]) -> dict[str, str]:
    """A measuring process's environment: this one's, one inference thread unless set otherwise, and ``env``."""
    return {**os.environ, "MEDIALENS_FN_THREADS": os.environ.get("MEDIALENS_FN_THREADS", "1"), **env}


def _worker(arguments: list[str], env: dict[str, str]) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.analyzers", "--worker", *arguments], capture_output=True, text=True,
        check=False, env=worker_env(env),
    )
    if finished.returncode != 0:
        return {"analyzer": arguments[0], "error": finished.stderr.strip().splitlines()[-1:]}
    row: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return row


def run(
    images: list[bytes] | None = None, analyzers: tuple[str, ...] = (*ANALYZERS, "summarize"),
    models: random_models.ModelDir | None = None,
) -> dict[str, Any]:
    """Measures each analyzer in its own process, the functions reading their models from ``models`` (by
    default a directory of what `make models` installed, with random real-size models where it installed none);
    returns per-analyzer rows, the summary's and the CPU bound with and without caption."""
    from functions.weights import CACHE

    chosen = images or list(sample_images().values())
    rows: dict[str, Any] = {}
    summary: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "images.pickle"
        path.write_bytes(pickle.dumps(chosen))
        models = models or random_models.model_dir(Path(folder) / "models", CACHE, analyzers)
        env = model_env(models)
        for name in analyzers:
            if name == "summarize":
                summary = _worker(["summarize"], env)
                continue
            rows[name] = _worker([name, str(path)], env)
        for label, (name, setting) in VARIANTS.items():
            if name in analyzers:
                rows[label] = _worker([name, str(path)], {**env, **setting})
        for label, size in BATCHES.items():
            if "caption" in analyzers:
                rows[label] = _worker(["caption", str(path), "--batch", str(size)], env)
        cores = len(os.sched_getaffinity(0))
        measured = {name: row["cpu_ms_mean"] for name, row in rows.items()
                    if "cpu_ms_mean" in row and name in analyzers}
        processes = side_by_side_processes(cores, (rows[name]["peak_rss_mb"] for name in measured))
        side_by_side = together(chosen, list(measured), env, processes) if measured else {}
    without_caption = {name: cpu for name, cpu in measured.items() if name != "caption"}
    # The bound again with caption's figure from its batches, as the pipeline captions calls that overlap.
    batched = {label: bound({**measured, "caption": rows[label]["cpu_ms_mean"]}.values(), cores)
               for label in BATCHES if "caption" in measured and "cpu_ms_mean" in rows.get(label, {})}
    return {
        "analyzers": rows,
        "images": len(chosen),
        "long_side": LONG_SIDE,
        "cores": cores,
        "random_weights": sorted(random_models.models_of(analyzers) & models.random),
        "cpu_ms_per_image_all_analyzers": round(sum(measured.values()), 1),
        "inference_bound_images_per_hour": bound(measured.values(), cores),
        "cpu_ms_per_image_without_caption": round(sum(without_caption.values()), 1),
        "inference_bound_without_caption": bound(without_caption.values(), cores),
        "inference_bounds_batched": {label: images_per_hour for label, images_per_hour in batched.items()
                                     if images_per_hour},
        "together": side_by_side,
        "summarize": summary,
    }


def bound(cpu_ms_per_image: Iterable[float], cores: int) -> int | None:
    """Images per hour when every core does nothing but these analyzers' inference."""
    total = sum(cpu_ms_per_image)
    return round(cores * 3_600_000 / total) if total else None


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
    random = result.get("random_weights", [])
    lines += [
        "",
        f"Inference bound: {result['cpu_ms_per_image_all_analyzers']} CPU ms per image for all analyzers "
        f"(mean), so at most {result['inference_bound_images_per_hour']} images per hour on "
        f"{result['cores']} cores; without caption {result['cpu_ms_per_image_without_caption']} CPU ms, "
        f"{result['inference_bound_without_caption']} images per hour.",
    ]
    side_by_side = result.get("together") or {}
    if "images_per_hour" in side_by_side:
        lines.append(
            f"With every core busy ({side_by_side['processes']} processes, each with every analyzer loaded, putting "
            f"the same {side_by_side['images'] // side_by_side['processes']} images through them at once): "
            f"{side_by_side['cpu_ms_per_image']} CPU ms per image, "
            f"{side_by_side['cpu_ms_per_image'] / result['cpu_ms_per_image_all_analyzers']:.2f}x the analyzers' "
            f"figures one at a time above, so at most {side_by_side['images_per_hour']} images per hour.")
    elif side_by_side:
        lines.append(f"The bound with every core busy was not measured: {side_by_side.get('error')}")
    if "clip" in random:
        lines.append("clip ran random weights of CLIP ViT-B/32's size.")
    if "ms_per_image" in (result["analyzers"].get("clip") or {}):
        lines.append("clip also ranks the safety labels over the same embedding; nsfw runs no CLIP.")
    if "blip" in random:
        lines.append("caption ran random weights of BLIP base's size, each caption to its 30-token limit: the "
                     "worst case (real captions stop at 10-15 tokens).")
    for label, (_, setting) in VARIANTS.items():
        if "ms_per_image" in (result["analyzers"].get(label) or {}):
            chosen = ", ".join(f"`{name}={value}`" for name, value in setting.items())
            lines.append(f"{label}: the same analyzer with {chosen}, measured beside it and left out of the bound.")
    for label, size in BATCHES.items():
        if "ms_per_image" in (result["analyzers"].get(label) or {}):
            lines.append(f"{label}: the same analyzer's model, {size} analysis images in one batch as calls that "
                         "overlap are captioned (`MEDIALENS_CAPTION_BATCH`), one timed pass after a warm batch, "
                         "figures per picture; left out of the bound, which takes each picture alone.")
    summary = result.get("summarize") or {}
    if "cold_start_s" in summary:
        lines += [
            "",
            "| summary of a recording | engine | wall s | CPU s | chapters | cold start s | peak RSS MB |",
            "|---|---|---|---|---|---|---|",
            *(f"| {minutes} min | {summary['engine']} | {summary[f's_{minutes}_min']} | "
              f"{summary[f'cpu_s_{minutes}_min']} | {summary[f'chapters_{minutes}_min']} | {summary['cold_start_s']} "
              f"| {summary['peak_rss_mb']} |" for minutes in SUMMARY_MINUTES),
        ]
        if "instruct" in random:
            lines.append("summarize ran random weights of Qwen2.5-0.5B-Instruct's size, every answer to its token "
                         "limit: the worst case.")
    elif summary:
        lines.append(f"summarize not measured: {summary.get('not_installed') or summary.get('error')}")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:2] == ["--worker", "summarize"]:
        print(json.dumps(measure_summary()))
        return
    if argv[:1] == ["--together"]:
        images = pickle.loads(Path(argv[2]).read_bytes())
        print(json.dumps(measure_together(argv[1].split(","), images, Path(argv[3]), Path(argv[4]))))
        return
    if argv[:1] == ["--worker"]:
        images = pickle.loads(Path(argv[2]).read_bytes())
        print(json.dumps(measure_batches(images, int(argv[4])) if argv[3:4] == ["--batch"] else
                         measure(argv[1], images)))
        return
    print(markdown(run(analyzers=tuple(argv) or (*ANALYZERS, "summarize"))))


if __name__ == "__main__":
    main(sys.argv[1:])
