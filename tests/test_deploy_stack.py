"""stack.yml and every function folder follow the faas-cli stack schema and the template's layout."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions import catalog
from functions.catalog import PROJECT, STACK_FILE, load_stack
from gpu.settings import GpuSettings
from host.server import HostSettings
from scheduler import calls
from scheduler.gateway import Reply
from tests.gateway_config import deploy

STACK: dict[str, Any] = load_stack()
FUNCTIONS: dict[str, Any] = STACK.get("functions") or {}
# faas-cli and faasd use function names as DNS labels (RFC 1123).
NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
MEMORY = re.compile(r"^(\d+)(Mi|Gi)$")
MAX_FUNCTIONS_FAASD_CE = 15


def mebibytes(value: str) -> int:
    match = MEMORY.match(str(value))
    assert match, f"{value!r} is not a memory size like 256Mi or 2Gi"
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def test_stack_header_names_openfaas_and_the_project_template() -> None:
    assert str(STACK["version"]) == "1.0"
    assert STACK["provider"]["name"] == "openfaas"
    assert STACK["provider"]["gateway"]
    templates = [entry["name"] for entry in STACK["configuration"]["templates"]]
    assert templates
    for name in templates:
        folder = PROJECT / "template" / name
        for part in ("template.yml", "Dockerfile", "index.py"):
            assert (folder / part).is_file(), f"template/{name}/{part} is missing"


def test_configuration_copy_paths_exist_inside_the_project() -> None:
    for path in STACK["configuration"].get("copy") or []:
        resolved = (STACK_FILE.parent / path).resolve()
        assert resolved.exists(), f"configuration.copy names {path}, which does not exist"
        assert resolved.is_relative_to(PROJECT), f"faas-cli copies only paths inside the project: {path}"


def test_faasd_ce_limit_of_fifteen_functions() -> None:
    assert 0 < len(FUNCTIONS) <= MAX_FUNCTIONS_FAASD_CE


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_follows_the_schema_and_layout(name: str) -> None:
    spec = FUNCTIONS[name]
    templates = {entry["name"] for entry in STACK["configuration"]["templates"]}
    assert NAME.match(name), f"{name!r} is not a valid function name"
    assert spec["lang"] in templates, f"{name}: lang {spec['lang']!r} is not a template of this project"
    handler = (STACK_FILE.parent / spec["handler"]).resolve()
    assert handler.is_relative_to(PROJECT / "functions"), f"{name}: handler outside functions/"
    for part in ("handler.py", "requirements.txt"):
        assert (handler / part).is_file(), f"{name}: {spec['handler']}/{part} is missing"
    image = str(spec["image"])
    assert re.fullmatch(rf"\S+/{re.escape(name)}:\S+", image), f"{name}: {image!r} is not registry/{name}:tag"
    assert not image.endswith(":latest"), f"{name}: pin a tag (${{TAG:-...}} is fine)"
    limit = mebibytes(spec["limits"]["memory"])
    if "requests" in spec:
        assert mebibytes(spec["requests"]["memory"]) <= limit, f"{name}: requests more memory than its limit"
    labels = spec.get("labels") or {}
    assert labels.get("medialens.weight") in ("light", "heavy"), f"{name}: say medialens.weight: light or heavy"
    assert labels.get("medialens.gpu", "false") in ("true", "false"), f'{name}: medialens.gpu is "true" or "false"'
    if labels.get("medialens.gpu") == "true":
        assert labels["medialens.weight"] == "heavy", f"{name}: a GPU node only takes over heavy functions"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_timeouts_agree_with_scheduler_and_gateway(name: str) -> None:
    timeouts = deploy.function_timeouts(STACK)[name]
    assert timeouts.exec_s <= timeouts.read_s and timeouts.exec_s <= timeouts.write_s, (
        f"{name}: exec_timeout must not exceed read_timeout/write_timeout"
    )
    assert catalog.spec(name).timeout_s == timeouts.exec_s
    gateway = deploy.gateway_timeouts(STACK)
    assert timeouts.exec_s < gateway.upstream_s < gateway.read_s and gateway.upstream_s < gateway.write_s


def test_gateway_timeouts_follow_the_slowest_function() -> None:
    slow = {"functions": {**FUNCTIONS, "slow": {"environment": {
        "exec_timeout": "10m", "read_timeout": "10m5s", "write_timeout": "10m5s"}}}}
    gateway = deploy.gateway_timeouts(slow)
    assert gateway.upstream_s == 605 and gateway.read_s == gateway.write_s == 610
    assert gateway.environment()["gateway"] == {
        "upstream_timeout": "605s", "read_timeout": "610s", "write_timeout": "610s"}
    assert 'Environment="service_timeout=610s"' in gateway.provider_dropin()


@pytest.mark.parametrize(
    ("text", "expected"), [("30s", 30), ("2m", 120), ("1m30s", 90), ("500ms", 0.5), (45, 45)]
)
def test_durations_read_as_faas_cli_writes_them(text: str | int, expected: float) -> None:
    assert deploy.seconds(text) == expected


def test_a_malformed_duration_is_an_error() -> None:
    with pytest.raises(deploy.DeployError, match="not a duration"):
        deploy.seconds("30 seconds")


def test_function_secrets_are_read_from_stack_yml() -> None:
    stack = {"functions": {"a": {"secrets": ["token", "key"]}, "b": {"secrets": ["token"]}, "c": {}}}
    assert deploy.function_secrets(stack) == ["key", "token"]
    assert all(isinstance(name, str) for name in deploy.function_secrets(STACK))


def test_deploy_script_parses_and_passes_shellcheck() -> None:
    import subprocess

    from tests.system_packages import find

    script = Path(deploy.__file__).with_name("deploy.sh")
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    shellcheck = find("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed: python -m tests.system_packages")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_make_deploy_runs_the_deploy_script() -> None:
    makefile = (PROJECT / "Makefile").read_text()
    assert re.search(r"^deploy:.*\n\t.*gateway-config/deploy\.sh", makefile, re.MULTILINE)


class RecordingGateway:
    """Stands in for a gateway: answers every call at once and keeps the timeout it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def invoke(self, function: str, payload: dict[str, Any], timeout_s: float) -> Reply:
        self.timeouts.append(timeout_s)
        return Reply(200, {}, 0.0, self.name)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_scheduler_waits_what_stack_yml_says(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = catalog.spec(name)
    changed = replace(spec, environment={**spec.environment, "exec_timeout": "7m7s"})
    monkeypatch.setitem(catalog.catalog(), name, changed)
    gateway = RecordingGateway()
    outcome = calls.call(name, lambda _: {}, lambda _: gateway)  # type: ignore[arg-type,return-value]
    assert outcome.kind == "ok"
    assert gateway.timeouts == [427.0], "the scheduler's call timeout must follow stack.yml's exec_timeout"


def test_gpu_nodes_serve_the_functions_stack_yml_labels_for_the_gpu() -> None:
    labelled = sorted(
        name for name, spec in FUNCTIONS.items() if (spec.get("labels") or {}).get(catalog.GPU_LABEL) == "true"
    )
    assert labelled, "no function is labelled for the GPU"
    assert GpuSettings(functions="").node_functions == labelled
    assert HostSettings(label="gpu", functions="").served() == set(labelled)
    assert HostSettings(label="cpu", functions="").served() == set(), "a CPU host serves every function"
    assert GpuSettings(functions="probe").node_functions == ["probe"], "the setting still overrides"


def test_the_gpu_node_image_installs_each_gpu_function_and_names_no_list_of_its_own() -> None:
    dockerfile = (PROJECT / "gpu-node" / "Dockerfile").read_text()
    assert "MEDIALENS_HOST_FUNCTIONS=" not in dockerfile, "the node's functions come from stack.yml"
    for name in catalog.gpu_functions():
        assert f"-r functions/{name}/requirements.txt" in dockerfile, f"the GPU node does not install {name}"


def test_the_app_image_carries_the_catalog_it_reads() -> None:
    dockerfile = (PROJECT / "Dockerfile").read_text()
    assert "COPY stack.yml" in dockerfile and "COPY functions/catalog.py" in dockerfile
