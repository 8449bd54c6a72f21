"""The Kubernetes tree (gateway-config/kubernetes): kustomize renders it, every object validates against
the API schemas of two Kubernetes versions, and its images, ports, settings and secrets are the ones the
code and the faasd deployment use."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from redis import Redis
from rq import Queue

from functions.catalog import PROJECT, load_stack, quantity
from functions.common.origins import Origin, allow_list
from scheduler.intake import create_app
from scheduler.settings import SchedulerSettings
from search.settings import IndexSettings
from storage.settings import StorageSettings
from tests.gateway_config import GATEWAY_CONFIG, deploy
from tests.system_packages import find
from tests.test_deploy_compose import SETTINGS, TEMPLATE, VALUES, env
from ui.settings import UiSettings

TREE = GATEWAY_CONFIG / "kubernetes"
# The oldest minor still widely offered by managed Kubernetes, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
NAMESPACE = "medialens"
# The app image (the root Dockerfile), under the registry deploy.sh and stack.yml default to.
APP_IMAGE = re.compile(r"^ghcr\.io/medialens/medialens:(?!latest$)[\w.-]+$")
# Custom resources kubernetes-validate has no schema for, and the fields their documentation lists:
# KEDA 2.x ScaledObject and TriggerAuthentication (keda.sh/docs/2.x/reference/scaledobject-spec,
# concepts/authentication) and its Redis list scaler (keda.sh/docs/2.x/scalers/redis-lists), and the
# MinIO Operator's Tenant (minio/operator docs/tenant_crd.adoc, examples/kustomization/base/tenant.yaml).
SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
                      "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"}
TRIGGER_FIELDS = {"type", "metadata", "authenticationRef", "name", "useCachedMetrics", "metricType"}
REDIS_LIST_METADATA = {"address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv",
                       "usernameFromEnv", "passwordFromEnv", "listName", "listLength", "activationListLength",
                       "enableTLS", "unsafeSsl", "databaseIndex"}
REDIS_AUTH_PARAMETERS = {"username", "password", "tls", "ca", "cert", "key"}
TENANT_SPEC = {"image", "imagePullSecret", "configuration", "credsSecret", "env", "pools", "mountPath", "subPath",
               "requestAutoCert", "certConfig", "externalCertSecret", "externalCaCertSecret", "features", "users",
               "buckets", "podManagementPolicy", "serviceMetadata", "serviceAccountName", "priorityClassName",
               "prometheusOperator", "exposeServices", "liveness", "readiness", "startup", "lifecycle",
               "sideCars", "additionalVolumes", "additionalVolumeMounts", "initContainers"}
TENANT_POOL = {"name", "servers", "volumesPerServer", "volumeClaimTemplate", "resources", "nodeSelector",
               "tolerations", "affinity", "topologySpreadConstraints", "securityContext",
               "containerSecurityContext", "annotations", "labels", "runtimeClassName"}
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
                ("minio.min.io/v2", "Tenant")}


def kubectl() -> str:
    # kustomize is built into kubectl; the machines carry it (Debian package kubectl).
    found = shutil.which("kubectl")
    assert found, "kubectl is missing: the tests render gateway-config/kubernetes with `kubectl kustomize`"
    return found


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    done = subprocess.run([kubectl(), "kustomize", str(TREE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield o, o["spec"]["template"]["spec"]


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for owner, spec in pod_specs(objects):
        for container in spec["containers"]:
            yield owner, container


def labels(owner: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = owner["spec"]["template"].get("metadata", {}).get("labels", {})
    return found


def container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return one(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]


def environment(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    """A container's plain variables, its ConfigMaps' included; secret references as `secret:NAME/KEY`."""
    c = container(objects, kind, name)
    found: dict[str, str] = {}
    for source in c.get("envFrom") or []:
        config = next(o for o in objects if o["kind"] == "ConfigMap"
                      and o["metadata"]["name"] == source["configMapRef"]["name"])
        found.update(config["data"])
    for item in c.get("env") or []:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        found[item["name"]] = f"secret:{ref['name']}/{ref['key']}" if ref else item["value"]
    return found


def test_the_tree_renders_and_every_object_validates_for_two_kubernetes_versions(
    objects: list[dict[str, Any]],
) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("Deployment", "intake"), ("Deployment", "worker"), ("Deployment", "ui"), ("StatefulSet", "redis"),
            ("StatefulSet", "index"), ("Job", "store-setup"), ("Tenant", "medialens"),
            ("ScaledObject", "worker")} <= kinds
    checked = 0
    for o in objects:
        if (o["apiVersion"], o["kind"]) in CUSTOM_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            # strict: a field the API does not know (a typo) fails as well as a wrong type.
            kubernetes_validate.validate(o, version, strict=True)
        checked += 1
    assert checked == len(objects) - 3
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == NAMESPACE, o["metadata"]["name"]


def test_an_invalid_object_fails_validation(objects: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(one(objects, "Deployment", "worker")))
    broken["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_custom_resources_use_only_documented_fields(objects: list[dict[str, Any]]) -> None:
    scaled = one(objects, "ScaledObject", "worker")
    assert set(scaled["spec"]) <= SCALED_OBJECT_SPEC, set(scaled["spec"]) - SCALED_OBJECT_SPEC
    assert one(objects, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    assert 0 < scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    advanced = scaled["spec"].get("advanced", {})
    assert set(advanced) <= {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig", "scalingModifiers"}
    hpa_config = advanced.get("horizontalPodAutoscalerConfig", {})
    assert set(hpa_config) <= {"name", "behavior"}
    # `behavior` is the HPA's own type (autoscaling/v2), which KEDA passes on: validate it as one.
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "worker"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
                    "minReplicas": scaled["spec"]["minReplicaCount"], "maxReplicas": scaled["spec"]["maxReplicaCount"],
                    "behavior": hpa_config["behavior"]}}
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(hpa, version, strict=True)
    for trigger in scaled["spec"]["triggers"]:
        assert set(trigger) <= TRIGGER_FIELDS and trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert set(metadata) <= REDIS_LIST_METADATA, set(metadata) - REDIS_LIST_METADATA
        assert {"listName", "listLength"} <= set(metadata)
        # KEDA reads trigger metadata as strings.
        assert all(isinstance(value, str) for value in metadata.values())
        auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        assert set(auth["spec"]) == {"secretTargetRef"}
        for ref in auth["spec"]["secretTargetRef"]:
            assert set(ref) == {"parameter", "name", "key"} and ref["parameter"] in REDIS_AUTH_PARAMETERS
    tenant = one(objects, "Tenant", "medialens")
    assert set(tenant["spec"]) <= TENANT_SPEC, set(tenant["spec"]) - TENANT_SPEC
    for pool in tenant["spec"]["pools"]:
        assert set(pool) <= TENANT_POOL, set(pool) - TENANT_POOL
        # Erasure coding needs 4 drives or more; distributed mode 4 servers or more (or 1).
        assert pool["servers"] * pool["volumesPerServer"] >= 4 and pool["servers"] in (1, *range(4, 100))
    # Tenant env and pool resources are the core API's own types: validate them as a pod's would be.
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tenant-env"},
             "spec": {"containers": [{"name": "minio", "image": tenant["spec"]["image"], "env": tenant["spec"]["env"],
                                      "resources": tenant["spec"]["pools"][0]["resources"]}]}}
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(probe, version, strict=True)


def test_workers_scale_on_the_length_of_the_schedulers_queue(objects: list[dict[str, Any]], redis_db: Redis) -> None:
    trigger = one(objects, "ScaledObject", "worker")["spec"]["triggers"][0]["metadata"]
    app = environment(objects, "Deployment", "worker")
    queue_name = app.get("MEDIALENS_SCHEDULER_QUEUE", SchedulerSettings.model_fields["queue"].default)
    # The list RQ pushes waiting jobs onto, as the real queue names it.
    queue = Queue(queue_name, connection=redis_db)
    assert trigger["listName"] == queue.key
    queue.enqueue("builtins.len", "abc")
    assert redis_db.llen(trigger["listName"]) == 1
    redis_url = urlsplit(app["MEDIALENS_SCHEDULER_REDIS_URL"])
    assert trigger["address"] == f"{redis_url.hostname}:{redis_url.port}"
    assert trigger["databaseIndex"] == redis_url.path.strip("/")
    auth = one(objects, "TriggerAuthentication", "redis-password")["spec"]["secretTargetRef"][0]
    assert f"secret:{auth['name']}/{auth['key']}" == app["REDIS_PASSWORD"]
    assert ":$(REDIS_PASSWORD)@" in app["MEDIALENS_SCHEDULER_REDIS_URL"]


def test_images_are_the_projects_or_pinned_upstream(objects: list[dict[str, Any]]) -> None:
    compose = yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]
    upstream = {service["image"] for service in compose.values()} - {VALUES["MEDIALENS_IMAGE"]}
    images: list[tuple[str, str, list[str]]] = [
        (owner["metadata"]["name"], c["image"], c.get("command") or []) for owner, c in containers(objects)]
    images.append(("tenant", one(objects, "Tenant", "medialens")["spec"]["image"], []))
    seen_app = False
    for name, image, command in images:
        if APP_IMAGE.match(image):
            seen_app = True
            # The app image runs a module of this project (the Dockerfile copies these folders).
            assert command[:2] == ["python", "-m"] and importlib.util.find_spec(command[2]), f"{name}: {command}"
            assert f"COPY {command[2].split('.')[0]}/ " in (PROJECT / "Dockerfile").read_text()
        else:
            # An upstream image the faasd deployment pins too (a tag, MinIO by digest).
            assert image in upstream, f"{name}: {image} is neither this project's image nor a pinned upstream one"
    assert seen_app
    assert re.search(r"@sha256:[0-9a-f]{64}$", one(objects, "Tenant", "medialens")["spec"]["image"])


def test_ports_are_the_ones_the_code_listens_on(objects: list[dict[str, Any]]) -> None:
    app = environment(objects, "Deployment", "intake")
    listens = {
        "intake": int(app["MEDIALENS_SCHEDULER_INTAKE_PORT"]),
        "worker": None,
        "ui": int(environment(objects, "Deployment", "ui")["MEDIALENS_UI_PORT"]),
        "index": int(environment(objects, "StatefulSet", "index")["MEDIALENS_INDEX_SERVE_PORT"]),
        "redis": 6379,  # redis-server's default: its args set no --port
    }
    # The settings' own defaults: the tree sets them explicitly, and they agree.
    # The declared defaults, not what this process's environment (a running test stack) overrides.
    assert listens["intake"] == SchedulerSettings.model_fields["intake_port"].default
    assert listens["ui"] == UiSettings.model_fields["port"].default
    assert listens["index"] == IndexSettings.model_fields["serve_port"].default
    assert "--port" not in container(objects, "StatefulSet", "redis")["args"]
    for owner, c in containers(objects):
        name = owner["metadata"]["name"]
        if name in listens and listens[name] is not None:
            assert [port["containerPort"] for port in c["ports"]] == [listens[name]], name
    services = [o for o in objects if o["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"intake", "ui", "index", "redis"}
    for service in services:
        owners = [owner for owner, _ in pod_specs(objects)
                  if service["spec"]["selector"].items() <= labels(owner).items()]
        assert len(owners) == 1, f"Service {service['metadata']['name']} selects {len(owners)} workloads"
        named = {port["name"]: port["containerPort"] for c in owners[0]["spec"]["template"]["spec"]["containers"]
                 for port in c.get("ports") or []}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named and port["port"] == named[port["targetPort"]]


def test_every_address_names_a_service_of_the_tree_or_of_the_engines(objects: list[dict[str, Any]]) -> None:
    ports = {(s["metadata"]["name"], p["port"]) for s in objects if s["kind"] == "Service" for p in s["spec"]["ports"]}
    # The MinIO Operator's Service for a Tenant without TLS, and the OpenFaaS chart's gateway.
    ports |= {("minio", 80)}
    app = environment(objects, "Deployment", "intake")
    urls = [app["MEDIALENS_SCHEDULER_REDIS_URL"].replace("$(REDIS_PASSWORD)", "x"), app["MEDIALENS_S3_ENDPOINT"],
            app["MEDIALENS_S3_FUNCTION_ENDPOINT"], app["MEDIALENS_INDEX_SERVER_URL"]]
    for url in urls:
        parts = urlsplit(url)
        service, namespace = parts.hostname.split(".")[:2]  # type: ignore[union-attr]
        assert namespace == NAMESPACE and parts.hostname == f"{service}.{NAMESPACE}.svc.cluster.local", url
        assert (service, parts.port or 80) in ports, url
    gateway = urlsplit(json.loads(app["MEDIALENS_SCHEDULER_GATEWAYS"])["cpu"])
    assert (gateway.hostname, gateway.port) == ("gateway.openfaas.svc.cluster.local", 8080)
    tenant_env = {item["name"]: item for item in one(objects, "Tenant", "medialens")["spec"]["env"]}
    webhook = urlsplit(tenant_env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_medialens"]["value"])
    assert (webhook.hostname, webhook.port) == (f"intake.{NAMESPACE}.svc.cluster.local", listens_on(objects, "intake"))
    assert webhook.path in {rule.rule for rule in create_app(SchedulerSettings()).url_map.iter_rules()}
    # MinIO sends the intake's own token; events wait on a volume of the Tenant while the intake is down.
    assert tenant_env["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_medialens"]["valueFrom"]["secretKeyRef"] == \
        {"name": "medialens-app", "key": "intake-token"}
    assert app["MEDIALENS_SCHEDULER_INTAKE_TOKEN"] == "secret:medialens-app/intake-token"
    queue_dir = tenant_env["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_medialens"]["value"]
    tenant = one(objects, "Tenant", "medialens")["spec"]
    assert queue_dir.startswith(tenant["mountPath"] + "0/") and not queue_dir.startswith(
        tenant["mountPath"] + "0" + tenant["subPath"]), "the queue sits on a volume, beside MinIO's data"
    assert tenant_env["MINIO_PROMETHEUS_AUTH_TYPE"]["value"] == "jwt"


def listens_on(objects: list[dict[str, Any]], service: str) -> int:
    port: int = one(objects, "Service", service)["spec"]["ports"][0]["port"]
    return port


def test_app_containers_get_the_settings_the_faasd_services_get(objects: list[dict[str, Any]]) -> None:
    compose = yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]
    for kind, name, twin in (("Deployment", "intake", "intake"), ("Deployment", "worker", "worker-1"),
                             ("Deployment", "ui", "ui"), ("StatefulSet", "index", "chroma")):
        ours = environment(objects, kind, name)
        for key in ours:
            match = re.match(r"MEDIALENS_([A-Z0-9]+)_(\w+)$", key)
            if match:
                component, field = match.groups()
                assert field.lower() in SETTINGS[component].model_fields, f"{name}: {key} is not a setting"
        # GPU burst rents Vast.ai nodes beside a faasd VPS; on Kubernetes GPU node pools serve instead.
        expected = {key for key in env(compose[twin]) if not key.startswith("MEDIALENS_GPU_")}
        assert expected <= set(ours), f"{name} lacks {expected - set(ours)}"
    # The first admin's password reaches the web app alone.
    for kind, name in (("Deployment", "intake"), ("Deployment", "worker"), ("StatefulSet", "index")):
        assert "MEDIALENS_ACCOUNTS_ADMIN_PASSWORD" not in environment(objects, kind, name)
    assert environment(objects, "Deployment", "ui")["MEDIALENS_ACCOUNTS_ADMIN_PASSWORD"] == \
        "secret:medialens-admin/admin-password"
    # The index holds its token and nothing else of the app's secrets.
    secret_refs = {value for value in environment(objects, "StatefulSet", "index").values()
                   if value.startswith("secret:")}
    assert secret_refs == {"secret:medialens-app/index-token"}


def test_the_store_setup_makes_what_deploy_sh_makes(objects: list[dict[str, Any]]) -> None:
    job = environment(objects, "Job", "store-setup")
    buckets = StorageSettings.model_construct()  # the declared defaults, whatever a test stack exported
    assert job["BUCKETS"].split() == [buckets.uploads_bucket, buckets.results_bucket, buckets.artefacts_bucket]
    assert job["UPLOADS_BUCKET"] == buckets.uploads_bucket
    script = (GATEWAY_CONFIG / "deploy.sh").read_text()
    assert f'WEBHOOK_ARN="{job["WEBHOOK_ARN"]}"' in script
    assert f'APP_S3_USER="{job["APP_USER"]}"' in script
    assert environment(objects, "Deployment", "intake")["MEDIALENS_S3_ACCESS_KEY"] == job["APP_USER"]
    # The app's account holds deploy.py's policy, not root's rights.
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("store-setup-"))
    assert json.loads(config["data"]["app.json"]) == deploy.app_policy(job["BUCKETS"].split())
    assert config["data"]["store-setup.sh"] == (TREE / "store-setup.sh").read_text()
    volume = one(objects, "Job", "store-setup")["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == config["metadata"]["name"], "kustomize points the Job at its ConfigMap"
    # The webhook's id in the Tenant's variables is the ARN's.
    tenant_env = {item["name"] for item in one(objects, "Tenant", "medialens")["spec"]["env"]}
    webhook_id = job["WEBHOOK_ARN"].split(":")[4]
    assert f"MINIO_NOTIFY_WEBHOOK_ENABLE_{webhook_id}" in tenant_env


def test_openfaas_chart_values_fit_stack_yml_and_the_tree(objects: list[dict[str, Any]]) -> None:
    values = yaml.safe_load((TREE / "openfaas-values.yaml").read_text())
    timeouts = deploy.gateway_timeouts(load_stack())
    assert values["gateway"]["upstreamTimeout"] == deploy.go_duration(timeouts.upstream_s)
    assert values["gateway"]["readTimeout"] == deploy.go_duration(timeouts.read_s)
    assert values["gateway"]["writeTimeout"] == deploy.go_duration(timeouts.write_s)
    # faas-netes proxies the calls too: its timeouts fit as faasd-provider's do.
    provider = values["faasnetes"]
    assert provider["readTimeout"] == provider["writeTimeout"] == deploy.go_duration(timeouts.write_s)
    slowest = max(deploy.function_timeouts(load_stack()).values(), key=lambda t: t.exec_s)
    assert slowest.exec_s < timeouts.upstream_s < timeouts.read_s
    # The namespace secrets.sh puts the function token in, and the Secret it copies the password from.
    script = (TREE / "secrets.sh").read_text()
    assert f'FUNCTION_NAMESPACE="${{FUNCTION_NAMESPACE:-{values["functionNamespace"]}}}"' in script
    assert values["generateBasicAuth"] is True and "get secret basic-auth" in script
    # The workers call synchronously; the chart's queue is not needed.
    assert values["async"] is False


def test_functions_take_their_resources_and_token_from_stack_yml() -> None:
    # faas-cli sends stack.yml's requests and limits to faas-netes, which sets them on each function's pod.
    functions = load_stack()["functions"]
    assert functions
    for name, raw in functions.items():
        assert {"memory"} <= set(raw["limits"]) and {"memory"} <= set(raw["requests"]), name
        assert quantity(raw["requests"]["memory"]) <= quantity(raw["limits"]["memory"]), name
        assert raw["secrets"] == ["medialens-function-token"], name
    # OpenFaaS CE runs at most 15 functions (faas-netes MaxFunctions), as faasd CE does.
    assert len(functions) <= 15


def test_the_readme_deploys_functions_that_may_reach_the_store(objects: list[dict[str, Any]]) -> None:
    readme = (GATEWAY_CONFIG / "README.md").read_text()
    section = readme[readme.index("## Kubernetes"):]
    allowed = allow_list(re.search(r"MEDIALENS_FN_ALLOWED_ORIGINS=(\S+)", section).group(1))  # type: ignore[union-attr]
    # Functions fetch and write through the presigned URLs made for the function endpoint: its origin.
    endpoint = environment(objects, "Deployment", "worker")["MEDIALENS_S3_FUNCTION_ENDPOINT"]
    assert allowed == {Origin.of(endpoint)}
    assert "kubectl apply -k gateway-config/kubernetes" in section
    chart = "helm upgrade --install openfaas openfaas/openfaas -n openfaas"
    assert f"{chart} -f gateway-config/kubernetes/openfaas-values.yaml" in section


FAKE_KUBECTL = """#!/usr/bin/env bash
# Stands in for a cluster with OpenFaaS's chart, and medialens's Secrets when SECRETS_EXIST; records argv.
printf '%s\\n' "$*" >>"$ARGV_LOG"
case "$*" in
    *"get secret basic-auth"*) printf '%s' "$GATEWAY_PASSWORD_B64" ;;
    *"get secret medialens-app -o"*) printf '%s' "${FUNCTION_TOKEN_B64:-}" ;;
    *" get secret "*) [[ -n "${SECRETS_EXIST:-}" ]] ;;
    *"create secret generic"*) exec "$REAL_KUBECTL" "$@" ;;
    "apply -f -") { cat; echo "---"; } >>"$APPLIED" ;;
    "apply -f "*) { cat "$3"; echo "---"; } >>"$APPLIED" ;;
    *) echo "unexpected kubectl $*" >&2; exit 2 ;;
esac
"""


def run_secrets_script(tmp_path: Path, **environ: str) -> tuple[subprocess.CompletedProcess[str], list[Any], str]:
    """secrets.sh against the fake kubectl: what it printed, the objects it applied, the argv it used."""
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)
    applied, argv_log = tmp_path / "applied.yaml", tmp_path / "argv.log"
    applied.write_text("")
    argv_log.write_text("")
    done = subprocess.run(
        ["bash", str(TREE / "secrets.sh")], capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], "KUBECTL": str(fake), "REAL_KUBECTL": kubectl(), "APPLIED": str(applied),
             "ARGV_LOG": str(argv_log), "GATEWAY_PASSWORD_B64": base64.b64encode(b"openfaas-admin-pw").decode(),
             **environ},
    )
    assert done.returncode == 0, done.stderr
    return done, [doc for doc in yaml.safe_load_all(applied.read_text()) if doc], argv_log.read_text()


def test_secrets_script_keeps_secrets_that_exist(tmp_path: Path) -> None:
    token = "function-token-made-before"
    done, made, _ = run_secrets_script(tmp_path, SECRETS_EXIST="1",
                                       FUNCTION_TOKEN_B64=base64.b64encode(token.encode()).decode())
    secrets = [doc for doc in made if doc["kind"] == "Secret"]
    # Only the functions' copy of the token is written again, with the value the workers already hold.
    assert [(doc["metadata"]["namespace"], doc["metadata"]["name"]) for doc in secrets] == \
        [("openfaas-fn", "medialens-function-token")]
    assert base64.b64decode(secrets[0]["data"]["medialens-function-token"]).decode() == token
    assert token not in done.stdout + done.stderr


def test_secrets_script_makes_every_secret_the_tree_reads(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    done, made, argv = run_secrets_script(tmp_path)
    secrets = {(doc["metadata"]["namespace"], doc["metadata"]["name"]):
               {key: base64.b64decode(value).decode() for key, value in doc["data"].items()}
               for doc in made if doc["kind"] == "Secret"}
    for doc in made:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    # Every secret key the tree reads is made.
    wanted = {value.removeprefix("secret:") for owner, c in containers(objects)
              for value in environment(objects, owner["kind"], owner["metadata"]["name"]).values()
              if value.startswith("secret:")}
    tenant = one(objects, "Tenant", "medialens")["spec"]
    wanted |= {f"{item['valueFrom']['secretKeyRef']['name']}/{item['valueFrom']['secretKeyRef']['key']}"
               for item in tenant["env"] if "valueFrom" in item}
    wanted |= {f"{ref['name']}/{ref['key']}" for ref in one(objects, "TriggerAuthentication", "redis-password")
               ["spec"]["secretTargetRef"]}
    wanted.add(f"{tenant['configuration']['name']}/config.env")
    present = {f"{name}/{key}" for (namespace, name), keys in secrets.items() if namespace == NAMESPACE for key in keys}
    assert wanted <= present, wanted - present
    app = secrets[(NAMESPACE, "medialens-app")]
    assert app["gateway-password"] == "openfaas-admin-pw", "the OpenFaaS chart's admin password, copied"
    # The functions' token (faas-netes mounts key NAME of Secret NAME at /var/openfaas/secrets/NAME) is the
    # workers' token, under the name the template reads.
    template = (PROJECT / "template" / "python3-http-debian" / "index.py").read_text()
    token_secret = re.search(r'^TOKEN_SECRET = "([^"]+)"', template, re.M).group(1)  # type: ignore[union-attr]
    assert secrets[("openfaas-fn", token_secret)] == {token_secret: app["function-token"]}
    root = secrets[(NAMESPACE, "medialens-store-root")]
    assert f'export MINIO_ROOT_USER="{root["root-user"]}"' in root["config.env"]
    assert f'export MINIO_ROOT_PASSWORD="{root["root-password"]}"' in root["config.env"]
    values = [value for keys in secrets.values() for value in keys.values()]
    # A key reaches a variable byte for byte: a trailing newline would end up inside the Redis URL.
    assert all(value.strip() == value for (_, name), keys in secrets.items() for key, value in keys.items()
               if key != "config.env"), "a secret value ends in whitespace"
    assert len(set(app.values())) == len(app), "each secret is a value of its own"
    assert all(len(value) >= 20 for value in app.values() if value != "openfaas-admin-pw")
    # No value was printed or passed in argv, where any local user could read it.
    for value in values:
        for line in value.splitlines():
            assert line not in done.stdout + done.stderr and line not in argv


def test_shell_scripts_parse_and_pass_shellcheck() -> None:
    shellcheck = find("shellcheck")
    assert shellcheck, "shellcheck is missing: python -m tests.system_packages installs it"
    for script in (TREE / "secrets.sh", TREE / "store-setup.sh"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
        result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


FAKE_MC = """#!/usr/bin/env bash
# Stands in for mc against a MinIO whose state the environment describes; records argv and stdin.
printf '%s\\n' "$*" >>"$MC_LOG"
case "$1 $2 ${3:-}" in
    "event list "*) [[ -z "$MC_EVENT" ]] || printf '%s   s3:ObjectCreated:*   Filter:\\n' "$MC_EVENT" ;;
    "admin user add") cat >>"$MC_STDIN" ;;
    "admin user info") printf '%s\\n' "$MC_USER_INFO" ;;
esac
"""


def run_store_setup(objects: list[dict[str, Any]], tmp_path: Path, event: str, user_info: str) -> list[str]:
    """store-setup.sh as the Job runs it (its variables), against the fake mc; the mc commands it ran."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "mc").chmod(0o755)
    setup = tmp_path / "setup"
    setup.mkdir(exist_ok=True)
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("store-setup-"))
    for name, text in config["data"].items():
        (setup / name).write_text(text)
    log, stdin = tmp_path / "mc.log", tmp_path / "mc.stdin"
    log.write_text("")
    stdin.write_text("")
    job = environment(objects, "Job", "store-setup")
    script = (setup / "store-setup.sh").read_text().replace("/setup/", f"{setup}/")
    done = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=60,
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "MC_LOG": str(log), "MC_STDIN": str(stdin),
             "MC_EVENT": event, "MC_USER_INFO": user_info, "APP_SECRET_KEY": "app-secret-for-tests",
             **{key: value for key, value in job.items() if not value.startswith("secret:") and "$(" not in value}},
    )
    assert done.returncode == 0, done.stderr
    assert "app-secret-for-tests" not in log.read_text() + done.stdout + done.stderr, "the secret went to argv or a log"
    assert stdin.read_text() == "app-secret-for-tests\n"
    return log.read_text().splitlines()


def test_store_setup_makes_the_buckets_notification_and_account_once(
    objects: list[dict[str, Any]], tmp_path: Path,
) -> None:
    job = environment(objects, "Job", "store-setup")
    arn, user = job["WEBHOOK_ARN"], job["APP_USER"]
    first = run_store_setup(objects, tmp_path, event="", user_info='{"status": "success"}')
    assert [f"mb --ignore-existing medialens/{bucket}" for bucket in job["BUCKETS"].split()] == \
        [line for line in first if line.startswith("mb ")]
    assert f"event add medialens/{job['UPLOADS_BUCKET']} {arn} --event put" in first
    assert any(line.startswith(f"admin policy create medialens {user} ") and line.endswith("app.json")
               for line in first)
    assert f"admin policy attach medialens {user} --user {user}" in first
    # Run again where all is in place: nothing is subscribed or attached twice (MinIO refuses both).
    again = run_store_setup(objects, tmp_path, event=arn,
                            user_info=f'{{"status": "success", "policyName": "{user}", "userStatus": "enabled"}}')
    assert not [line for line in again if line.startswith(("event add", "admin policy attach"))]


def test_only_the_tenant_and_the_store_setup_hold_minios_root(objects: list[dict[str, Any]]) -> None:
    tenant = one(objects, "Tenant", "medialens")["spec"]
    holders = {owner["metadata"]["name"] for owner, _ in containers(objects)
               if any(value.startswith(f"secret:{tenant['configuration']['name']}/")
                      for value in environment(objects, owner["kind"], owner["metadata"]["name"]).values())}
    assert holders == {"store-setup"}
    mc_host = environment(objects, "Job", "store-setup")["MC_HOST_medialens"]
    assert urlsplit(mc_host.replace("$(ROOT_USER)", "u").replace("$(ROOT_PASSWORD)", "p")).hostname == \
        urlsplit(environment(objects, "Deployment", "intake")["MEDIALENS_S3_ENDPOINT"]).hostname
