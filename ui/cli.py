"""`medialens analyze FILE...`: upload files, follow each pipeline live, print the results.

Also `medialens search WORDS` (or `--image FILE`), `status [UPLOAD]`, `people`, `download UPLOAD`,
`delete UPLOAD...`, `keys list|create|revoke` for the workspace's API keys, `export` for the whole
workspace as a tar archive, and `gpu status`.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from scheduler.service import KEYFRAMES, Keyframe, StepName, keyframe_results

from . import answers

FINAL = {"done", "failed"}
DEFAULT_KEY_FILE = Path(".state") / "admin.key"


@dataclass
class Tracked:
    path: Path
    key: str
    task: TaskID
    upload_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return str(self.detail.get("state", "uploading" if self.upload_id is None else "queued"))


class Api:
    def __init__(self, url: str, key: str, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/") + "/api/v1", timeout=timeout,
                                   headers={"Authorization": f"Bearer {key}"})

    def _json(self, reply: httpx.Response) -> Any:
        if reply.status_code >= 400:
            try:
                message = reply.json().get("error", reply.text)
            except ValueError:
                message = reply.text
            raise SystemExit(f"medialens: the API answered {reply.status_code}: {message}")
        return reply.json()

    def upload(self, path: Path) -> str:
        size = path.stat().st_size
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        ticket = self._json(self.client.post(
            "/uploads", json={"filename": path.name, "size": size, "content_type": content_type}))
        with path.open("rb") as handle:
            # The form's fields bind key, type and size; the store checks them before it keeps the file.
            reply = httpx.post(ticket["url"], data=ticket["fields"],
                               files={"file": (path.name, handle, ticket["content_type"])}, timeout=None)
        if reply.status_code >= 300:
            raise SystemExit(f"medialens: uploading {path} failed: HTTP {reply.status_code}")
        return str(ticket["key"])

    def find(self, key: str) -> str | None:
        found = self._json(self.client.get("/uploads", params={"key": key}))["uploads"]
        return str(found[0]["id"]) if found else None

    def get(self, upload_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self.client.get(f"/uploads/{upload_id}"))
        return data


def default_key() -> str:
    key = os.environ.get("MEDIALENS_API_KEY", "")
    if not key and DEFAULT_KEY_FILE.exists():
        key = DEFAULT_KEY_FILE.read_text().strip()
    return key


def analyze(api: Api, paths: list[Path], timeout: float, console: Console) -> list[Tracked]:
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[state]}"),
                  TimeElapsedColumn(), console=console) as progress:
        tracked = []
        for path in paths:
            task = progress.add_task(path.name, total=1.0, state="uploading")
            tracked.append(Tracked(path, api.upload(path), task))
            progress.update(task, state="uploaded")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(t.state not in FINAL for t in tracked):
            for item in tracked:
                if item.state in FINAL:
                    continue
                item.upload_id = item.upload_id or api.find(item.key)
                if item.upload_id:
                    item.detail = api.get(item.upload_id)
                    running = [n for n, s in item.detail["steps"].items() if s["state"] == "running"]
                    label = item.state + (f" ({', '.join(running)})" if running else "")
                    progress.update(item.task, completed=item.detail.get("progress", 0.0), state=label)
            time.sleep(0.25)
        for item in tracked:
            if item.state not in FINAL:
                item.detail = {**item.detail, "state": "timed out"}
            progress.update(item.task, completed=1.0 if item.state == "done" else item.detail.get("progress", 0.0),
                            state=item.state)
    return tracked


def connect(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Api:
    key = args.api_key or default_key()
    if not key:
        parser.error("no API key: pass --api-key or set MEDIALENS_API_KEY (make up prints one)")
    return Api(args.api, key)


def gpu_status(api: Api, args: argparse.Namespace) -> int:
    data = api._json(api.client.get("/gpu"))
    print(json.dumps(data, indent=2) if args.json else describe_gpu(data))
    return 0


def manage_keys(api: Api, args: argparse.Namespace) -> int:
    """Lists, makes or revokes the workspace's API keys (its owners may)."""
    if args.action == "create":
        body = {"name": args.name, "role": args.role,
                **({"expires_in_days": args.expires_days} if args.expires_days else {})}
        made = api._json(api.client.post("/workspace/keys", json=body))
        print(f"key {made['id']} ({made['role']}) made; its secret, shown this once:\n{made['secret']}")
        return 0
    if args.action == "revoke":
        gone = api._json(api.client.delete(f"/workspace/keys/{args.name}"))
        print(f"key {gone['id']} ({gone['name']}) revoked")
        return 0
    for key in api._json(api.client.get("/workspace/keys"))["keys"]:
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(key["expires_at"])) if key["expires_at"] else "never"
        print(f"{key['id']}  {key['role']:7} {key['name']}  by {key['created_by']}  expires {expires}")
    return 0


def export(api: Api, args: argparse.Namespace) -> int:
    """Saves the whole workspace (originals, results, people) as a tar archive, streamed to disk."""
    with api.client.stream("GET", "/workspace/export", timeout=None) as reply:
        if reply.status_code >= 400:
            reply.read()
            api._json(reply)
        with args.output.open("wb") as handle:
            for chunk in reply.iter_bytes():
                handle.write(chunk)
    print(f"saved {args.output} ({args.output.stat().st_size} bytes)")
    return 0


def show(data: Any, lines: list[str], as_json: bool) -> None:
    print(json.dumps(data, indent=2) if as_json else "\n".join(lines))


def search(api: Api, args: argparse.Namespace) -> int:
    """Words (exact matches apart from similar ones, with filters), or copies and look-alikes of a picture."""
    if args.image:
        data = args.image.read_bytes()
        content_type = mimetypes.guess_type(args.image.name)[0] or "application/octet-stream"
        reply = api._json(api.client.post("/search/image", content=data, headers={"Content-Type": content_type}))
        show(reply, answers.image_hits(reply), args.json)
        return 0
    params = {"q": " ".join(args.words), "limit": args.limit, "media_type": args.type or "", "person": args.person,
              "since": args.since, "until": args.until}
    reply = api._json(api.client.get("/search", params={k: v for k, v in params.items() if v}))
    show(reply, answers.search_hits(reply), args.json)
    return 0


def status(api: Api, args: argparse.Namespace) -> int:
    """The newest uploads and their state, or one upload's steps."""
    if args.upload:
        view = api.get(args.upload)
        show(view, answers.steps_lines(view), args.json)
        return 0
    reply = api._json(api.client.get("/uploads", params={"limit": args.limit}))
    show(reply, answers.uploads_lines(reply), args.json)
    return 0


def people(api: Api, args: argparse.Namespace) -> int:
    reply = api._json(api.client.get("/people", params={"hidden": int(args.hidden)}))
    show(reply, answers.people_lines(reply), args.json)
    return 0


def download(api: Api, args: argparse.Namespace) -> int:
    """Saves an upload's original file, by default under its own name in the current directory."""
    view = api.get(args.upload)
    target = args.output or Path(answers.name_of(view))
    with httpx.stream("GET", view["source"], timeout=None) as reply:
        if reply.status_code >= 400:
            raise SystemExit(f"medialens: the store answered {reply.status_code} for {args.upload}")
        with target.open("wb") as handle:
            for chunk in reply.iter_bytes():
                handle.write(chunk)
    print(f"saved {target} ({target.stat().st_size} bytes)")
    return 0


def delete(api: Api, args: argparse.Namespace) -> int:
    for upload in args.uploads:
        gone = api._json(api.client.delete(f"/uploads/{upload}"))
        print(f"deleted {gone['deleted']}")
    return 0


def describe_gpu(data: dict[str, Any]) -> str:
    """The status as lines a person reads in a terminal."""
    currency = data["spend"]["currency"]
    lines = [data["message"]]
    if data["enabled"]:
        budget = data["budget"]
        lines.append(f"spend: {data['spend']['day']:.2f} {currency} today (cap {budget['daily_cap']:.2f}), "
                     f"{data['spend']['month']:.2f} this month (cap {budget['monthly_cap']:.2f}); "
                     f"left: {budget['left']:.2f} {currency}")
        cost = data["cost_per_file"]
        lines.append(f"files on GPU this month: {data['files_this_month']}; cost per file: "
                     + (f"{cost:.4f} {currency}" if cost is not None else "-"))
        lines.append(f"nodes ({len(data['nodes'])} of at most {data['max_nodes']}):")
        for node in data["nodes"]:
            lines.append(f"  {node['id']} {node['state']} {node['gpu_name']} {node['dph']:.3f} USD/h "
                         f"{node['url'] or '-'} calls={node['calls']} in_flight={node['in_flight']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medialens", description=__doc__)
    reach = argparse.ArgumentParser(add_help=False)
    reach.add_argument("--api", default=os.environ.get("MEDIALENS_API_URL", "http://127.0.0.1:8000"))
    reach.add_argument("--api-key", default=None, help="defaults to $MEDIALENS_API_KEY or .state/admin.key")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("analyze", parents=[reach], help="upload files and print their analysis")
    run.add_argument("files", nargs="+", type=Path)
    run.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for all results")
    run.add_argument("--json", action="store_true", help="print the full results as JSON")
    gpu = commands.add_parser("gpu", parents=[reach],
                              help="GPU burst: `medialens gpu status` shows nodes, spend and budget")
    gpu.add_argument("action", choices=["status"])
    gpu.add_argument("--json", action="store_true", help="print the status as JSON")
    manage = commands.add_parser("keys", parents=[reach], help="the workspace's API keys: list, create NAME, "
                                 "revoke ID")
    manage.add_argument("action", choices=["list", "create", "revoke"])
    manage.add_argument("name", nargs="?", default="", help="the new key's name, or the id of the key to revoke")
    manage.add_argument("--role", choices=["viewer", "editor", "owner"], default="viewer")
    manage.add_argument("--expires-days", type=float, default=None, help="the key stops working after this")
    saving = commands.add_parser("export", parents=[reach], help="the whole workspace as one tar archive")
    saving.add_argument("-o", "--output", type=Path, required=True)
    found = commands.add_parser("search", parents=[reach], help="words seen or heard, or copies of a picture")
    found.add_argument("words", nargs="*")
    found.add_argument("--image", type=Path, default=None, help="find copies and look-alikes of this picture")
    found.add_argument("--type", choices=["image", "video", "audio"], default=None)
    found.add_argument("--person", default="", help="only uploads this person (an id from `medialens people`) is in")
    found.add_argument("--since", default="", help="only uploads made on this day (YYYY-MM-DD) or later")
    found.add_argument("--until", default="", help="only uploads made on this day (YYYY-MM-DD) or earlier")
    found.add_argument("--limit", type=int, default=20)
    found.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    state = commands.add_parser("status", parents=[reach], help="the newest uploads, or one upload's steps")
    state.add_argument("upload", nargs="?", default="")
    state.add_argument("--limit", type=int, default=20)
    state.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    listing = commands.add_parser("people", parents=[reach], help="everyone the faces were grouped into")
    listing.add_argument("--hidden", action="store_true", help="list hidden people too")
    listing.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    fetching = commands.add_parser("download", parents=[reach], help="save an upload's original file")
    fetching.add_argument("upload")
    fetching.add_argument("-o", "--output", type=Path, default=None)
    removing = commands.add_parser("delete", parents=[reach], help="delete uploads and all made from them")
    removing.add_argument("uploads", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "search" and not args.words and not args.image:
        parser.error("`medialens search` needs words to look for, or --image FILE")
    if args.command == "search" and args.image and not args.image.is_file():
        parser.error(f"no such file: {args.image}")
    if args.command == "keys" and args.action != "list" and not args.name:
        parser.error(f"`medialens keys {args.action}` needs a {'name' if args.action == 'create' else 'key id'}")
    if args.command == "analyze":
        missing = [str(p) for p in args.files if not p.is_file()]
        if missing:
            parser.error(f"no such file: {', '.join(missing)}")
    api = connect(args, parser)
    if args.command == "gpu":
        return gpu_status(api, args)
    if args.command == "keys":
        return manage_keys(api, args)
    if args.command == "export":
        return export(api, args)
    chosen = {"search": search, "status": status, "people": people, "download": download, "delete": delete}
    if args.command in chosen:
        return chosen[args.command](api, args)
    console = Console(stderr=True)
    tracked = analyze(api, args.files, args.timeout, console)
    report = {str(t.path): {"id": t.upload_id, "state": t.state, "reason": t.detail.get("reason", ""),
                            "results": t.detail.get("results", {})} for t in tracked}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for path, entry in report.items():
            line = f"{path}: {entry['state']}"
            if entry["reason"]:
                line += f" - {entry['reason']}"
            print(line)
            print("\n".join(answers.analysis(next(t.detail for t in tracked if str(t.path) == path))))
    return 0 if all(t.state == "done" for t in tracked) else 1


def step_results(results: dict[str, Any]) -> list[tuple[str, Any]]:
    """(step name, result) of each step, a video's keyframes last, as the steps were named."""
    found = [(function, result) for function, result in results.items() if function != KEYFRAMES]
    for index, by_function in keyframe_results(results).items():
        found += [(StepName(function, Keyframe(index)).to_str(), result) for function, result in by_function.items()]
    return found


if __name__ == "__main__":
    sys.exit(main())
