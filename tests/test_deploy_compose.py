"""The faasd service file: only keys faasd CE reads, and names that match what the code refers to."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from importlib.metadata import packages_distributions
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from accounts.settings import AccountsSettings
from functions.catalog import PROJECT
from gpu.settings import GpuSettings
from scheduler.settings import SchedulerSettings
from search.settings import IndexSettings
from storage.settings import StorageSettings
from tests.gateway_config import GATEWAY_CONFIG, deploy
from ui.settings import UiSettings

# What faasd's ParseCompose (pkg/supervisor.go) copies into a container; it ignores the rest.
FAASD_KEYS = {"image", "environment", "volumes", "command", "user", "depends_on", "cap_add", "ports"}
# Services faasd's own docker-compose.yaml defines, which ours may depend on.
FAASD_SERVICES = {"basic-auth-plugin", "nats", "prometheus", "gateway", "queue-worker"}
SETTINGS: dict[str, type[BaseSettings]] = {
    "S3": StorageSettings, "SCHEDULER": SchedulerSettings, "UI": UiSettings, "INDEX": IndexSettings,
    "GPU": GpuSettings, "ACCOUNTS": AccountsSettings}
# The host's address on faasd's CNI bridge (openfaas0, subnet 10.62.0.0/16, pkg/cninetwork): functions
# reach ports published there, as faasd's gateway reaches faasd-provider at 10.62.0.1:8081.
FAASD_BRIDGE = "10.62.0.1"
TEMPLATE = (GATEWAY_CONFIG / "docker-compose.medialens.yaml").read_text()
VALUES = {name: f"test-{name.lower().replace('_', '-')}" for name in deploy.placeholders(TEMPLATE)}
VALUES["MEDIALENS_IMAGE"] = "ghcr.io/example/medialens:1.0"
VALUES.update(GPU_DAILY_CAP="2.5", GPU_MONTHLY_CAP="20")

# faasd's compose file as `faasd install` writes it (trimmed): list-form environments.
FAASD_COMPOSE = """
version: "3.7"
services:
  nats:
    image: docker.io/library/nats-streaming:0.25.6
    command: ["/nats-streaming-server", "-m", "8222", "--store=file", "--dir=/nats"]
  prometheus:
    image: docker.io/prom/prometheus:v2.46.0
    ports: ["127.0.0.1:9090:9090"]
  gateway:
    image: ghcr.io/openfaas/gateway:0.27.0
    environment:
      - basic_auth=true
      - functions_provider_url=http://faasd-provider:8081/
      - read_timeout=60s
      - write_timeout=60s
      - upstream_timeout=65s
    ports: ["8080:8080"]
"""


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    rendered = yaml.safe_load(deploy.render(TEMPLATE, VALUES))
    found: dict[str, Any] = rendered["services"]
    return found


def env(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def test_every_placeholder_is_one_deploy_sh_exports() -> None:
    script = (GATEWAY_CONFIG / "deploy.sh").read_text()
    exported = set(re.findall(r"export ([A-Z0-9_ ]+)", script))
    names = {name for line in exported for name in line.split()}
    assert deploy.placeholders(TEMPLATE) <= names, deploy.placeholders(TEMPLATE) - names


def test_services_use_only_keys_faasd_ce_reads(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert set(service) <= FAASD_KEYS, f"{name}: faasd ignores {sorted(set(service) - FAASD_KEYS)}"
        assert "image" in service, name


def test_data_lives_under_var_lib_faasd_and_ports_on_loopback(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            # faasd mounts bind volumes only.
            assert volume["type"] == "bind", name
            assert volume["source"].startswith("/var/lib/faasd/"), f"{name}: {volume['source']}"
        for port in service.get("ports") or []:
            address = str(port).split(":")[0]
            assert address in ("127.0.0.1", FAASD_BRIDGE), f"{name}: {port} is published beyond the host"


def test_no_port_number_is_published_twice(services: dict[str, Any]) -> None:
    # faasd keys its port proxies by number alone (cmd/up.go) and refuses to start on a repeat.
    numbers = [str(port).split(":")[1] for service in services.values() for port in service.get("ports") or []]
    assert len(numbers) == len(set(numbers)), sorted(numbers)


def test_functions_reach_minio_over_the_bridge_and_others_over_the_public_name(services: dict[str, Any]) -> None:
    app = env(services["intake"])
    inside = urlsplit(app["MEDIALENS_S3_FUNCTION_ENDPOINT"])
    assert inside.scheme == "http" and inside.hostname == FAASD_BRIDGE
    minio_command = services["minio"]["command"]
    minio_port = minio_command[minio_command.index("--address") + 1].lstrip(":")
    assert f"{FAASD_BRIDGE}:{inside.port}:{minio_port}" in services["minio"]["ports"]
    public = urlsplit(app["MEDIALENS_S3_PUBLIC_ENDPOINT"])
    assert public.scheme == "https" and public.hostname == VALUES["S3_DOMAIN"]


def test_images_are_pinned(services: dict[str, Any]) -> None:
    assert re.search(r"@sha256:[0-9a-f]{64}$", services["minio"]["image"]), "MinIO is pinned by digest"
    for name, service in services.items():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name}: {image}"


def test_dependencies_name_existing_services(services: dict[str, Any]) -> None:
    for name, service in services.items():
        unknown = set(service.get("depends_on") or []) - set(services) - FAASD_SERVICES
        assert not unknown, f"{name} depends on unknown services {unknown}"


def test_commands_run_modules_that_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        command = service.get("command") or []
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: no module {command[2]}"


def test_environment_names_real_settings(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key in env(service):
            match = re.match(r"MEDIALENS_([A-Z0-9]+)_(\w+)$", key)
            if not match:
                continue
            component, field = match.groups()
            assert component in SETTINGS, f"{name}: {key} belongs to no settings class"
            assert field.lower() in SETTINGS[component].model_fields, f"{name}: {key} is not a setting"


def test_service_addresses_match_what_the_services_are(services: dict[str, Any]) -> None:
    app = env(services["intake"])
    redis_url = urlsplit(app["MEDIALENS_SCHEDULER_REDIS_URL"])
    assert redis_url.hostname == "redis" and redis_url.port == 6379
    redis_command = services["redis"]["command"]
    assert "--appendonly" in redis_command and redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert redis_command[redis_command.index("--requirepass") + 1] == redis_url.password
    s3 = urlsplit(app["MEDIALENS_S3_ENDPOINT"])
    minio_command = services["minio"]["command"]
    assert s3.hostname == "minio" and f":{s3.port}" == minio_command[minio_command.index("--address") + 1]
    assert json.loads(app["MEDIALENS_SCHEDULER_GATEWAYS"])["cpu"] == "http://gateway:8080"
    for name in ("worker-1", "worker-2", "gpu-manager"):
        assert env(services[name]) == app, f"{name} sees another configuration than the intake"
    # The web app alone also holds the first admin's password.
    ui = env(services["ui"])
    assert {key: value for key, value in ui.items() if key != "MEDIALENS_ACCOUNTS_ADMIN_PASSWORD"} == app
    ui_port = env(services["ui"])["MEDIALENS_UI_PORT"]
    assert f"127.0.0.1:{ui_port}:{ui_port}" in services["ui"]["ports"]


def test_minio_webhook_reaches_the_intake_with_its_token(services: dict[str, Any]) -> None:
    from scheduler.intake import create_app

    minio, app = env(services["minio"]), env(services["intake"])
    assert minio["MINIO_NOTIFY_WEBHOOK_ENABLE_medialens"] == "on"
    endpoint = urlsplit(minio["MINIO_NOTIFY_WEBHOOK_ENDPOINT_medialens"])
    assert endpoint.hostname == "intake" and str(endpoint.port) == app["MEDIALENS_SCHEDULER_INTAKE_PORT"]
    routes = {rule.rule for rule in create_app().url_map.iter_rules()}
    assert endpoint.path in routes
    # MinIO sends a one-word token as "Bearer <token>" (internal/event/target/webhook.go), which
    # is what the intake expects.
    assert minio["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_medialens"] == app["MEDIALENS_SCHEDULER_INTAKE_TOKEN"]
    assert len(minio["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_medialens"].split()) == 1
    queue_dir = minio["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_medialens"]
    mounted = {volume["target"] for volume in services["minio"]["volumes"]}
    assert queue_dir in mounted, "the queue_dir must be a mounted folder, or queued events die with MinIO"
    script = (GATEWAY_CONFIG / "deploy.sh").read_text()
    assert re.search(r'mc event add "medialens/\$UPLOADS_BUCKET" "\$WEBHOOK_ARN" --event put', script)
    assert 'WEBHOOK_ARN="arn:minio:sqs::medialens:webhook"' in script


def test_merge_adds_our_services_and_the_gateway_timeouts_idempotently(services: dict[str, Any]) -> None:
    stack = yaml.safe_load((PROJECT / "stack.yml").read_text())
    timeouts = deploy.gateway_timeouts(stack)
    ours = {"services": services}
    once = deploy.merge_compose(yaml.safe_load(FAASD_COMPOSE), ours, timeouts)
    twice = deploy.merge_compose(yaml.safe_load(yaml.safe_dump(once)), ours, timeouts)
    assert once == twice
    assert set(once["services"]) == {"nats", "prometheus", "gateway", *services}
    gateway_env = dict(item.split("=", 1) for item in once["services"]["gateway"]["environment"])
    assert gateway_env["upstream_timeout"] == deploy.go_duration(timeouts.upstream_s)
    assert gateway_env["functions_provider_url"] == "http://faasd-provider:8081/"
    assert once["services"]["gateway"]["ports"] == ["127.0.0.1:8080:8080"]
    assert len(once["services"]["gateway"]["environment"]) == 5


def test_gpu_burst_runs_with_a_vast_key_and_is_left_out_without(services: dict[str, Any]) -> None:
    manager = services["gpu-manager"]
    assert manager["command"] == ["python", "-m", "gpu.manager"]
    rendered = env(manager)
    assert GpuSettings.model_validate({  # what the manager reads from the rendered environment
        key.removeprefix("MEDIALENS_GPU_").lower(): value for key, value in rendered.items()
        if key.startswith("MEDIALENS_GPU_")}).enabled
    without_key = yaml.safe_load(deploy.render(TEMPLATE, {**VALUES, "VAST_API_KEY": ""}))["services"]
    assert GpuSettings(vast_api_key=env(without_key["intake"])["MEDIALENS_GPU_VAST_API_KEY"]).enabled is False
    stack = yaml.safe_load((PROJECT / "stack.yml").read_text())
    timeouts = deploy.gateway_timeouts(stack)
    with_burst = deploy.merge_compose(yaml.safe_load(FAASD_COMPOSE), {"services": services}, timeouts)
    assert "gpu-manager" in with_burst["services"]
    # A later run without the key takes the manager out of the file again.
    off = deploy.merge_compose(with_burst, {"services": without_key}, timeouts, leave_out=["gpu-manager"])
    assert "gpu-manager" not in off["services"] and "worker-1" in off["services"]
    with pytest.raises(deploy.DeployError, match="cannot leave out nats"):
        deploy.merge_compose(yaml.safe_load(FAASD_COMPOSE), {"services": services}, timeouts, leave_out=["nats"])


def test_deploy_sh_turns_burst_on_with_a_key_and_its_defaults_are_the_settings(services: dict[str, Any]) -> None:
    script = (GATEWAY_CONFIG / "deploy.sh").read_text()
    defaults = GpuSettings()
    assert f'GPU_DAILY_CAP="${{GPU_DAILY_CAP:-{defaults.daily_cap}}}"' in script
    assert f'GPU_MONTHLY_CAP="${{GPU_MONTHLY_CAP:-{defaults.monthly_cap}}}"' in script
    assert "COMPOSE_FLAGS=(--leave-out gpu-manager)" in script
    assert 'helper compose "$FAASD_DIR/docker-compose.yaml" "$rendered" "$STACK" "${COMPOSE_FLAGS[@]}"' in script
    assert script.index("configure_gpu_burst\n") < script.index("    add_services\n")


def test_merge_refuses_a_file_that_is_not_faasds() -> None:
    with pytest.raises(deploy.DeployError, match="no gateway service"):
        deploy.merge_compose({"services": {}}, {"services": {}}, deploy.GatewayTimeouts(35, 40, 40))


def test_prometheus_jobs_scrape_services_that_exist(services: dict[str, Any]) -> None:
    ours = yaml.safe_load((GATEWAY_CONFIG / "prometheus.medialens.yml").read_text())
    faasd = {"scrape_configs": [{"job_name": "gateway"}, {"job_name": "medialens-ui", "old": True}]}
    merged = deploy.merge_prometheus(faasd, ours)
    assert [job["job_name"] for job in merged["scrape_configs"]].count("medialens-ui") == 1
    assert merged["scrape_configs"][0]["job_name"] == "gateway"
    for job in ours["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            assert target.split(":")[0] in services, f"{job['job_name']} scrapes unknown {target}"


def test_render_fills_placeholders_and_leaves_nginx_variables() -> None:
    assert deploy.render("a ${ONE} $host ${TWO}", {"ONE": "1", "TWO": "2"}) == "a 1 $host 2"
    with pytest.raises(deploy.DeployError, match="no value for ONE, TWO"):
        deploy.render("${TWO} ${ONE}", {})


def test_app_image_installs_every_package_the_services_import() -> None:
    listed = set()
    for line in (PROJECT / "requirements" / "services.txt").read_text().splitlines():
        name = re.split(r"[<>=\[; ]", line.split("#", 1)[0].strip(), maxsplit=1)[0]
        if name:
            listed.add(re.sub(r"[-_.]+", "-", name).lower())
    local = {path.name for path in PROJECT.iterdir() if path.is_dir()}
    distributions = packages_distributions()
    needed: dict[str, str] = {}
    sources = [*(PROJECT / "scheduler").rglob("*.py"), *(PROJECT / "ui").rglob("*.py"),
               *(PROJECT / "storage").rglob("*.py"), *(PROJECT / "accounts").rglob("*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                for dist in distributions.get(top, [top]):
                    needed.setdefault(re.sub(r"[-_.]+", "-", dist).lower(), str(path.relative_to(PROJECT)))
    missing = {dist: where for dist, where in needed.items() if dist not in listed}
    assert not missing, f"requirements/services.txt lacks {missing} (package: first file importing it)"
