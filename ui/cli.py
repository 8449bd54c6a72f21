"""`medialens analyze FILE...`: upload files, follow each pipeline live, print the results.

Also `medialens keys list|create|revoke` for the workspace's API keys, `medialens export` for the
whole workspace as a tar archive, and `medialens gpu status`.
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
    args = parser.parse_args(argv)
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
            for step, result in step_results(entry["results"]):
                print(f"  {step}: {json.dumps(result)[:200]}")
    return 0 if all(t.state == "done" for t in tracked) else 1


def step_results(results: dict[str, Any]) -> list[tuple[str, Any]]:
    """(step name, result) of each step, a video's keyframes last, as the steps were named."""
    found = [(function, result) for function, result in results.items() if function != KEYFRAMES]
    for index, by_function in keyframe_results(results).items():
        found += [(StepName(function, Keyframe(index)).to_str(), result) for function, result in by_function.items()]
    return found


if __name__ == "__main__":
    sys.exit(main())
