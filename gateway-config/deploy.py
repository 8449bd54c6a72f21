"""The Python half of deploy.sh: renders templates, derives gateway timeouts, merges faasd's files."""

# It runs on the VPS with the system python3 and python3-yaml, before any virtualenv exists, so it
# uses the standard library and PyYAML only. The tests import the same functions.

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
# Durations are read as the function catalog reads them (it needs PyYAML only): one parser for both.
sys.path.insert(0, str(PROJECT))
from functions import catalog  # noqa: E402

# ${NAME} only, upper case: nginx's own variables ($host, $remote_addr) pass through untouched.
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

# Gateway read/write exceed its upstream timeout, which exceeds every function's exec_timeout: the
# innermost timeout fires first, so a slow function ends with its own clear error, not a gateway 502.
UPSTREAM_MARGIN_S = 5
GATEWAY_MARGIN_S = 5

GATEWAY_PORT = "127.0.0.1:8080:8080"


class DeployError(ValueError):
    pass


def render(template: str, values: Mapping[str, str]) -> str:
    """Replaces every ${NAME}; a name with no value is an error naming all that are missing."""
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise DeployError(f"no value for {', '.join(missing)}: set them in the environment")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def seconds(duration: str | int | float) -> float:
    """Go-style durations as faas-cli and the watchdog read them: 30s, 2m, 1m30s, 500ms."""
    try:
        return catalog.seconds(duration)
    except ValueError as exc:
        raise DeployError(str(exc)) from exc


def go_duration(value: float) -> str:
    return f"{int(value)}s" if value == int(value) else f"{value}s"


@dataclass(frozen=True)
class FunctionTimeouts:
    exec_s: float
    read_s: float
    write_s: float


@dataclass(frozen=True)
class GatewayTimeouts:
    upstream_s: float
    read_s: float
    write_s: float

    def environment(self) -> dict[str, dict[str, str]]:
        """The variables of faasd's compose services that carry timeouts, by service name."""
        return {
            "gateway": {
                "upstream_timeout": go_duration(self.upstream_s),
                "read_timeout": go_duration(self.read_s),
                "write_timeout": go_duration(self.write_s),
            },
        }

    def provider_dropin(self) -> str:
        """A systemd drop-in for faasd-provider (a unit, not a compose service), which proxies calls."""
        return (
            "# Written by medialens gateway-config/deploy.sh: fits the slowest function in stack.yml.\n"
            f'[Service]\nEnvironment="service_timeout={go_duration(self.write_s)}"\n'
        )


def load_yaml(path: Path) -> Any:
    with open(path) as handle:
        return yaml.safe_load(handle)


def function_timeouts(stack: Mapping[str, Any]) -> dict[str, FunctionTimeouts]:
    found = {}
    for name, spec in (stack.get("functions") or {}).items():
        env = spec.get("environment") or {}
        missing = [key for key in ("exec_timeout", "read_timeout", "write_timeout") if key not in env]
        if missing:
            raise DeployError(f"function {name} in stack.yml sets no {', '.join(missing)}")
        found[name] = FunctionTimeouts(
            seconds(env["exec_timeout"]), seconds(env["read_timeout"]), seconds(env["write_timeout"])
        )
    return found


def gateway_timeouts(stack: Mapping[str, Any]) -> GatewayTimeouts:
    """Timeouts for faasd's gateway that fit the slowest function in stack.yml."""
    timeouts = function_timeouts(stack)
    slowest = max((t.exec_s for t in timeouts.values()), default=60.0)
    upstream = slowest + UPSTREAM_MARGIN_S
    return GatewayTimeouts(upstream, upstream + GATEWAY_MARGIN_S, upstream + GATEWAY_MARGIN_S)


def function_secrets(stack: Mapping[str, Any]) -> list[str]:
    """Every faasd secret a function in stack.yml names (mounted at /var/openfaas/secrets/<name>)."""
    functions = (stack.get("functions") or {}).values()
    return sorted({str(name) for spec in functions for name in spec.get("secrets") or ()})


def merge_compose(
    faasd: dict[str, Any], ours: Mapping[str, Any], gateway: GatewayTimeouts, leave_out: Collection[str] = ()
) -> dict[str, Any]:
    """faasd's compose file with our services added (or replaced) and its timeouts set; idempotent.
    Services named in `leave_out` are not added, and removed where an earlier run added them."""
    services = faasd.setdefault("services", {})
    unknown = set(leave_out) - set(ours.get("services") or {})
    if unknown:
        raise DeployError(f"cannot leave out {', '.join(sorted(unknown))}: not one of our services")
    for name, service in (ours.get("services") or {}).items():
        if name in leave_out:
            services.pop(name, None)
        else:
            services[name] = service
    for name, variables in gateway.environment().items():
        if name not in services:
            raise DeployError(f"faasd's docker-compose.yaml has no {name} service: is this faasd?")
        env = services[name].get("environment")
        if isinstance(env, list):
            # faasd ships list-form environments ("key=value"); keep that form.
            kept = [item for item in env if item.split("=", 1)[0] not in variables]
            services[name]["environment"] = kept + [f"{key}={value}" for key, value in variables.items()]
        else:
            services[name]["environment"] = {**(env or {}), **variables}
    # faasd publishes its gateway on every interface; nginx's allow-listed /gateway/ is the way in.
    services["gateway"]["ports"] = [GATEWAY_PORT]
    return faasd


def merge_prometheus(config: dict[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """faasd's prometheus.yml with our scrape jobs added (or replaced by job_name); idempotent."""
    jobs = {job["job_name"]: job for job in ours.get("scrape_configs") or []}
    kept = [job for job in config.get("scrape_configs") or [] if job.get("job_name") not in jobs]
    config["scrape_configs"] = kept + list(jobs.values())
    return config


def _write_yaml(path: Path, data: Any, mode: int) -> None:
    temporary = path.with_name(path.name + ".medialens-new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Edited by medialens gateway-config/deploy.sh; faasd reads it at start.\n")
        yaml.safe_dump(data, handle, sort_keys=False, default_flow_style=False)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("render", help="render TEMPLATE with ${NAME}s from the environment")
    command.add_argument("template", type=Path)
    command.add_argument("output", type=Path)
    command.add_argument("--mode", type=lambda v: int(v, 8), default=0o644)
    command = commands.add_parser("timeouts", help="print the gateway timeouts stack.yml needs")
    command.add_argument("stack", type=Path)
    command = commands.add_parser("provider", help="write faasd-provider's timeout drop-in")
    command.add_argument("stack", type=Path)
    command.add_argument("output", type=Path)
    command = commands.add_parser("secrets", help="print the function secrets stack.yml names")
    command.add_argument("stack", type=Path)
    command = commands.add_parser("compose", help="merge rendered services into faasd's compose file")
    command.add_argument("faasd", type=Path)
    command.add_argument("ours", type=Path)
    command.add_argument("stack", type=Path)
    command.add_argument("--leave-out", action="append", default=[], metavar="SERVICE",
                         help="one of our services not to run (e.g. gpu-manager without a Vast.ai key)")
    command = commands.add_parser("prometheus", help="merge scrape jobs into faasd's prometheus.yml")
    command.add_argument("faasd", type=Path)
    command.add_argument("ours", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            text = render(args.template.read_text(), os.environ)
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, args.mode)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(args.output, args.mode)
        elif args.command == "timeouts":
            for service, variables in gateway_timeouts(load_yaml(args.stack)).environment().items():
                for key, value in variables.items():
                    print(f"{service} {key}={value}")
        elif args.command == "provider":
            args.output.write_text(gateway_timeouts(load_yaml(args.stack)).provider_dropin())
        elif args.command == "secrets":
            print("\n".join(function_secrets(load_yaml(args.stack))))
        elif args.command == "compose":
            merged = merge_compose(
                load_yaml(args.faasd), load_yaml(args.ours), gateway_timeouts(load_yaml(args.stack)),
                args.leave_out,
            )
            # It holds the services' credentials: root only.
            _write_yaml(args.faasd, merged, 0o600)
        elif args.command == "prometheus":
            _write_yaml(args.faasd, merge_prometheus(load_yaml(args.faasd), load_yaml(args.ours)), 0o644)
    except (DeployError, OSError, yaml.YAMLError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
