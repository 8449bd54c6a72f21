"""Runs a function from its faas-cli build context, as its image runs it, without Docker.

The process starts in the context folder with `PYTHONPATH=<context>:<context>/function`, as the
template's Dockerfile sets it, then the standard library, then site-packages last, as a user
install comes in the image. No `.pth` file is read, so this checkout (installed editable) is not
importable: a handler that leans on anything outside its context fails here as it would on faasd.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from functions.build import build_context
from functions.catalog import PROJECT, FunctionSpec
from host.server import template

TEMPLATE_DOCKERFILE = PROJECT / "template" / "python3-http-debian" / "Dockerfile"
PINNED = {"torch": "2.13.0", "torchvision": "0.28.0"}
# `pip install [flags] -r FILE` in a RUN line; the flags say whether declared needs come too.
INSTALL = re.compile(r"pip install (?P<flags>[^\n]*?)-r (?P<file>[^\s;]+)")

# Appends site-packages after the standard library and runs index.py as `python index.py` would.
BOOTSTRAP = (
    "import runpy, sys; sys.path.append({site!r}); sys.argv = ['index.py']; "
    "runpy.run_path('index.py', run_name='__main__')"
)


def site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def context_environment(context: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    keep = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "MEDIALENS_"))}
    return {
        **keep,
        "PYTHONPATH": f"{context}:{context / 'function'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        # As the template's Dockerfile sets it: weights come with the function.
        "MEDIALENS_FN_MODEL_DIR": str(context / "function" / "weights"),
        **(extra or {}),
    }


def run_in_context(context: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` with exactly the path an image's process has."""
    command = [sys.executable, "-S", "-c", f"import sys; sys.path.append({site_packages()!r}); {code}"]
    return subprocess.run(command, cwd=context, env=context_environment(context), capture_output=True,
                          text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FunctionImage:
    """One function served from its build context on a loopback port (a context manager)."""

    def __init__(self, spec: FunctionSpec, context: Path, environment: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.context = build_context(spec, context)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.spool = self.context / "tmp"
        self.spool.mkdir()
        # What faasd mounts as the function's secret; every call bears it, as the scheduler's does.
        self.token = secrets.token_urlsafe(24)
        self.environment = context_environment(self.context, {
            "MEDIALENS_UPSTREAM_PORT": str(self.port), "TMPDIR": str(self.spool), template.TOKEN_ENV: self.token,
            **(environment or {}),
        })
        self.log = self.context / "function.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FunctionImage:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-S", "-c", BOOTSTRAP.format(site=site_packages())],
                cwd=self.context, env=self.environment, stdout=log, stderr=subprocess.STDOUT,
            )
        self.wait_ready()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Waits for /_/ready (the model is loaded), or fails with the end of the function's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/_/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.spec.name} was not ready in {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def call(self, body: dict[str, Any] | bytes, timeout: float = 120.0,
             token: str | None = None) -> tuple[int, dict[str, Any]]:
        """POSTs ``body`` bearing ``token`` (the function's own when None; none when empty)."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        raw = body if isinstance(body, bytes) else None
        reply = httpx.post(self.url, content=raw, json=None if raw is not None else body, headers=headers,
                           timeout=timeout)
        return reply.status_code, reply.json() if reply.content else {}

    def peak_rss_bytes(self) -> int:
        """The process's high-water mark of resident memory (VmHWM)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024


def install_steps(dockerfile: Path = TEMPLATE_DOCKERFILE) -> list[tuple[str, bool]]:
    """(requirements file, with its declared needs) for each pip install the Dockerfile runs."""
    text = dockerfile.read_text().replace("\\\n", " ")
    return [(match["file"], "--no-deps" not in match["flags"]) for match in INSTALL.finditer(text)]


def resolve(context: Path, requirements: str, with_deps: bool, report: Path) -> list[dict[str, Any]]:
    """What ``pip install -r requirements`` would install in an empty image (pip's own dry run)."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "-r", requirements]
    if not with_deps:
        command.append("--no-deps")
    done = subprocess.run(command, cwd=context, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{requirements} does not resolve:\n{done.stderr[-3000:]}")
    items: list[dict[str, Any]] = json.loads(report.read_text())["install"]
    return items


def resolve_image(context: Path, work: Path) -> dict[str, dict[str, Any]]:
    """Every distribution the image's install steps put in it, by normalised name."""
    resolved: dict[str, dict[str, Any]] = {}
    for number, (requirements, with_deps) in enumerate(install_steps()):
        if not (context / requirements).exists():
            continue
        for item in resolve(context, requirements, with_deps, work / f"report-{number}.json"):
            key = item["metadata"]["name"].lower().replace("_", "-")
            version, earlier = item["metadata"]["version"], resolved.get(key)
            if earlier is not None and earlier["metadata"]["version"] != version:
                raise RuntimeError(f"{key} is installed twice: {earlier['metadata']['version']} and {version}")
            resolved[key] = item
    return resolved


def wheel_files(item: dict[str, Any], downloads: Path) -> list[tuple[str, int]]:
    """(path, bytes) of what a resolved wheel installs (its RECORD), metadata folders left out."""
    url = item["download_info"]["url"]
    if url.startswith("file://"):
        wheel = Path(unquote(urlsplit(url).path))
    else:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", str(downloads), f"{name}=={version}"], check=True, capture_output=True, timeout=600)
        wheel = next(downloads.glob(unquote(Path(urlsplit(url).path).name)))
    with zipfile.ZipFile(wheel) as archive:
        record = next(entry for entry in archive.namelist() if entry.endswith(".dist-info/RECORD"))
        rows = csv.reader(io.StringIO(archive.read(record).decode()))
        return [(row[0], int(row[2] or 0)) for row in rows
                if row and not row[0].split("/")[0].endswith((".dist-info", ".data"))]


def installed_megabytes(spec: FunctionSpec, work: Path) -> float:
    """What the image's install steps put in site-packages (the wheels' RECORD sizes), in MB."""
    context = build_context(spec, work / "context")
    resolved = resolve_image(context, work)
    return sum(size for item in resolved.values() for _, size in wheel_files(item, work)) / 1e6


def normal_requests(base_url: str) -> dict[str, dict[str, Any]]:
    """One ordinary request per function, its inputs put on the loopback blob server."""
    from PIL import Image
    from skimage import data as samples

    from bench.sample_media import Scene, Speech, make_video, speech_bytes

    picture = io.BytesIO()
    Image.fromarray(samples.astronaut()).save(picture, "JPEG", quality=90)
    inputs = {
        "picture": picture.getvalue(),
        "video": make_video([Scene(0.0, "HARBOR", (30, 60, 160)), Scene(5.0, "MARKET", (200, 50, 40))], 10.0,
                            [Speech(1.0, "fox")]),
        "speech": speech_bytes("fox"),
    }
    for name, data in inputs.items():
        httpx.put(f"{base_url}/in/{name}", content=data).raise_for_status()

    def body(source: str, **outputs: str) -> dict[str, Any]:
        return {"source": {"url": f"{base_url}/in/{source}"},
                "outputs": {name: f"{base_url}/out/{path}" for name, path in outputs.items()}}

    image_only = {name: body("picture") for name in ("probe", "pose", "ocr", "nsfw", "faces", "clip", "caption")}
    talk = [{"start": float(second), "end": second + 10.0, "text": "the team met on the beach to plan the release"}
            for second in range(0, 300, 10)]
    return {
        **image_only,
        "summarize": {"options": {"transcript": talk, "language": "en", "duration": 300.0}},
        # One index job's worth: the transcript chunks of five minutes of talk.
        "embed": {"options": {"texts": [segment["text"] for segment in talk]}},
        "thumbnail": body("picture", thumbnail="thumbnail"),
        "extract": {**body("video", audio="audio", keyframe_0="k0", keyframe_1="k1"),
                    "options": {"max_keyframes": 2}},
        "transcribe": body("speech"),
    }


def run() -> dict[str, Any]:
    """Per function: installed size of its image's packages, peak memory on one normal request, limit."""
    import tempfile

    from bench.media import blob_server
    from functions.catalog import functions
    from functions.weights import CACHE, LABEL, place

    rows = []
    with blob_server() as base_url, tempfile.TemporaryDirectory() as folder:
        requests = normal_requests(base_url)
        for name, spec in functions().items():
            work = Path(folder) / name
            work.mkdir()
            image = FunctionImage(spec, work / "image", {"MEDIALENS_FN_ALLOWED_ORIGINS": base_url})
            for model in filter(None, (m.strip() for m in spec.labels.get(LABEL, "").split(","))):
                if (CACHE / model).is_dir():
                    place(CACHE / model, image.context / "function", model)
            with image:
                started = time.perf_counter()
                status, _ = image.call(requests[name])
                seconds = time.perf_counter() - started
                peak = image.peak_rss_bytes()
            rows.append({
                "function": name, "status": status, "request_s": round(seconds, 3),
                "installed_mb": round(installed_megabytes(spec, work), 1),
                "peak_rss_mb": round(peak / 2**20, 1), "limit_mb": round(spec.memory_limit / 2**20),
            })
    return {"functions": rows}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "Each function started from its faas-cli build context as its image runs it (only the context and",
        "site-packages on the path), one ordinary request each (a 512 px photo; a 10 s video for `extract`;",
        "a spoken sentence for `transcribe`). Installed size: the wheels pip resolves for the image's own",
        "install steps, unpacked. Peak memory includes loading the model. 501 = weights not installed",
        "(`make models`).",
        "",
        "| function | installed packages (MB) | peak RSS (MiB) | stack.yml limit (MiB) | peak / limit "
        "| answer | request (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["functions"]:
        ratio = row["peak_rss_mb"] / row["limit_mb"]
        lines.append(f"| {row['function']} | {row['installed_mb']:.0f} | {row['peak_rss_mb']:.0f} | "
                     f"{row['limit_mb']} | {ratio:.0%} | {row['status']} | {row['request_s']:.2f} |")
    return "\n".join(lines)
