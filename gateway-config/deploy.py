"""The Python half of deploy.sh: renders templates, derives gateway timeouts, merges faasd's files,
writes MinIO's policies and Prometheus's token for MinIO's metrics."""

# It runs on the VPS with the system python3 and python3-yaml, before any virtualenv exists, so it
# uses the standard library and PyYAML only. The tests import the same functions.

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Collection, Mapping, Sequence
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

# What the app's MinIO account may do beyond its buckets' objects: the admin calls of
# storage/credentials.py's MinioCredentials (MinioAdmin's policy_add, user_add, attach_policy,
# user_remove, user_list), which make and remove each workspace's user and policy. Nothing else of
# the admin API: no server, configuration, notification, KMS or service-account actions.
APP_ADMIN_ACTIONS = (
    "admin:CreatePolicy", "admin:CreateUser", "admin:AttachUserOrGroupPolicy", "admin:DeleteUser", "admin:ListUsers",
)
# faasd's Prometheus (user nobody) reads MinIO's metrics token from a folder of its own, mounted here;
# prometheus.medialens.yml names the file inside it.
PROMETHEUS_SECRETS = {"type": "bind", "source": "/var/lib/faasd/medialens/prometheus",
                      "target": "/etc/prometheus/medialens"}
# A JSON Web Token: three base64url parts.
JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


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
    if "prometheus" not in services:
        raise DeployError("faasd's docker-compose.yaml has no prometheus service: is this faasd?")
    prometheus = services["prometheus"]
    kept = [volume for volume in prometheus.get("volumes") or []
            if not (isinstance(volume, dict) and volume.get("target") == PROMETHEUS_SECRETS["target"])]
    prometheus["volumes"] = [*kept, dict(PROMETHEUS_SECRETS)]
    return faasd


def app_policy(buckets: Sequence[str]) -> dict[str, Any]:
    """The MinIO policy of the app's account (intake, workers, web app, GPU manager): read, write and
    list objects in the platform's buckets, and make and remove workspace users and policies. No
    bucket administration: deploy.sh makes the buckets and their notification with root."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}" for bucket in buckets]},
            # Multipart uploads need s3:PutObject; the client aborts a failed one.
            {"Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
             "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in buckets]},
            {"Effect": "Allow", "Action": list(APP_ADMIN_ACTIONS)},
        ],
    }


def metrics_policy() -> dict[str, Any]:
    """The MinIO policy of the account whose token Prometheus scrapes with: metrics, nothing else."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["admin:Prometheus"]}]}


def prometheus_token(generated: str) -> str:
    """The bearer token in what `mc admin prometheus generate ALIAS` printed (YAML, or JSON with --json)."""
    try:
        data = yaml.safe_load(generated)
    except yaml.YAMLError:
        data = None
    jobs = data.get("scrape_configs", [data]) if isinstance(data, dict) else []
    for job in jobs:
        token = (job.get("bearer_token") or job.get("bearerToken")) if isinstance(job, dict) else None
        if isinstance(token, str) and JWT.match(token):
            return token
    # What mc printed holds the token when it is only malformed: never repeat it.
    raise DeployError("mc admin prometheus generate printed no bearer token: is MINIO_PROMETHEUS_AUTH_TYPE jwt?")


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


def write_secret(path: Path, value: str, owner: int | None = None) -> None:
    """Replaces the file at once, readable by its owner alone from the first byte."""
    temporary = path.with_name(path.name + ".medialens-new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.chmod(temporary, 0o400)
    if owner is not None:
        os.chown(temporary, owner, owner)
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
    command = commands.add_parser("policy", help="print the MinIO policy of the app's or the metrics account")
    command.add_argument("account", choices=["app", "metrics"])
    command.add_argument("buckets", nargs="*", help="the platform's buckets (app)")
    command = commands.add_parser("secret-file", help="write what stdin holds to OUTPUT, readable by its owner alone")
    command.add_argument("output", type=Path)
    command.add_argument("--owner", type=int, default=None, help="uid (and gid) the file belongs to")
    command = commands.add_parser(
        "prometheus-token", help="write the token in `mc admin prometheus generate`'s output (stdin) to OUTPUT")
    command.add_argument("output", type=Path)
    command.add_argument("--owner", type=int, default=None, help="uid (and gid) the file belongs to")
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
        elif args.command == "policy":
            if args.account == "app" and not args.buckets:
                raise DeployError("the app's policy needs the buckets")
            print(json.dumps(app_policy(args.buckets) if args.account == "app" else metrics_policy(), indent=2))
        elif args.command == "secret-file":
            write_secret(args.output, sys.stdin.read().strip(), args.owner)
        elif args.command == "prometheus-token":
            write_secret(args.output, prometheus_token(sys.stdin.read()), args.owner)
    except (DeployError, OSError, yaml.YAMLError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
