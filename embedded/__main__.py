"""`python -m embedded up|down|status`: the commands behind `make up` and `make down`."""

from __future__ import annotations

import argparse
import gc
import sys
import time

from accounts.apikeys import ApiKeys
from accounts.upgrade import admin_key, upgrade

from .private import write_private
from .stack import Stack, StackError
from .workerhost import WorkerHost, open_stack


def ensure_key(stack: Stack) -> str | None:
    """The admin's key for the medialens command, made when the saved one is missing or no longer
    works; returns it when it is new."""
    key_file = stack.state / "admin.key"
    saved = key_file.read_text().strip() if key_file.exists() else ""
    if saved and ApiKeys(stack.redis()).authenticate(saved) is not None:
        return None
    made = admin_key(stack.redis())
    write_private(key_file, made + "\n")
    return made


def print_access(stack: Stack, new_key: str | None) -> None:
    s, secrets = stack.settings, stack.secrets
    if isinstance(stack, WorkerHost):
        print(f"""
This worker host runs {s.workers} workers and a functions host against the storage at {stack.join.s3_endpoint}.
  Logs             {stack.log_dir}
Stop it with `make down` (busy workers finish their step first).""")
        return
    print(f"""
medialens is running.
  Web UI and API   {s.url(s.ui_port)}   (API under /api/v1)
                   sign in as admin, password {secrets.admin_password}
  S3 endpoint      {s.url(s.s3_port)}   access key {secrets.s3_access_key}
                                        secret key {secrets.s3_secret_key}
  Upload bucket    uploads   (results in 'results', thumbnails in 'artefacts')
  Gateway          {s.url(s.gateway_port)}   (/system/* user admin, password {secrets.gateway_password})
  Logs             {stack.log_dir}
Stop it with `make down`.""")
    if stack.sharing:
        print(f"""  Shared with worker hosts on {s.share_address} (TLS): copy {stack.join_file} to each, then there
                   `make worker JOIN=join.json` (it holds passwords: keep it 0600).""")
    if new_key:
        print(f"\nYour admin API key (shown once; also saved to {stack.state / 'admin.key'} for the medialens "
              f"command):\n  {new_key}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("services", nargs="*", help="up: start only these services, without a supervisor")
    args = parser.parse_args()
    stack = open_stack()
    if args.command == "status":
        supervisor = stack.supervisor_pid()
        print(f"{'supervisor':12} " + (f"pid {supervisor}" if supervisor else "not running: `make up` starts it"))
        for name, pid in stack.running().items():
            print(f"{name:12} pid {pid}")
        for name in stack.missing():
            print(f"{name:12} not running")
        return 0
    if args.command == "down":
        stopped = stack.down()
        print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    running = stack.running()
    if args.services:
        try:
            started = stack.up(only=args.services)
        except StackError as exc:
            print(f"medialens could not start: {exc}", file=sys.stderr)
            return 1
        print(f"started {', '.join(started) or 'nothing: they ran already'}")
        return 0
    if stack.supervisor_pid() and not stack.missing():
        print(f"medialens is already running ({', '.join(running)}); `make down` stops it.")
        print_access(stack, None)
        return 0
    began = time.monotonic()
    try:
        started = stack.up()
    except StackError as exc:
        print(f"medialens could not start: {exc}", file=sys.stderr)
        # A stack that ran before stays as it is: only one this command began is taken down.
        if not running:
            stack.down()
        return 1
    # Accounts live on the machine that shares its storage: a worker host only works.
    new_key = None
    if not isinstance(stack, WorkerHost):
        upgrade(stack.redis(), stack.secrets.admin_password)
        new_key = ensure_key(stack)
    restarted = f" (started {', '.join(started)}; the rest ran already)" if running and started else ""
    print(f"started in {time.monotonic() - began:.1f} s{restarted}")
    print_access(stack, new_key)
    return 0


if __name__ == "__main__":
    code = main()
    # Nothing is left to free: the interpreter's last collection, over every object of the libraries imported,
    # took 0.4 s, and over a second while the workers start beside it, that `make up` waited for (issue 17).
    gc.freeze()
    sys.exit(code)
