"""deploy/kubernetes and the Dockerfile: valid manifests, and the invariants the service relies on.

No cluster, kubectl or kustomize here: every manifest is validated offline against the
Kubernetes schemas (kubernetes-validate, strict: an unknown or misspelt field fails), the
kustomizations are checked to name files that exist, and the security and sizing rules
are read from the YAML itself.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from nsfw.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.37.0"
# Measured peaks (docs/security.md, bench/hostile-results.md), in MiB.
WORKER_MB, MASTER_MB, EXPRESS_DECODER_MB = 125, 30, 192


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomizations() -> list[Path]:
    return sorted(KUBE.rglob("kustomization.yaml"))


def patches() -> set[Path]:
    found = set()
    for path in kustomizations():
        for patch in documents(path)[0].get("patches", []):
            found.add((path.parent / patch["path"]).resolve())
    return found


def manifests() -> list[tuple[Path, dict]]:
    """Every Kubernetes object in deploy/kubernetes (kustomizations and partial patches aside)."""
    skip = set(kustomizations()) | patches()
    return [(p, doc) for p in sorted(KUBE.rglob("*.yaml")) if p.resolve() not in skip for doc in documents(p)]


def find(kind: str, name: str) -> dict:
    (doc,) = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


DEPLOYMENT = find("Deployment", "nsfw-service")
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]
ENV = {e["name"]: e.get("value") for e in CONTAINER["env"]}


@pytest.mark.parametrize("path,doc", manifests(), ids=lambda v: str(v.relative_to(KUBE)) if isinstance(v, Path) else "")
def test_every_manifest_is_valid_against_the_kubernetes_schema(path, doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", kustomizations(), ids=lambda p: str(p.relative_to(KUBE)))
def test_every_kustomization_names_files_that_exist(path):
    (kustomization,) = documents(path)
    assert kustomization["kind"] in ("Kustomization", "Component")
    named = [
        *kustomization.get("resources", []),
        *kustomization.get("components", []),
        *(p["path"] for p in kustomization.get("patches", [])),
    ]
    assert named
    for entry in named:
        assert (path.parent / entry).exists(), f"{path}: {entry} does not exist"


def test_the_base_holds_deployment_service_hpa_pdb_and_networkpolicy():
    kinds = {d["kind"] for p, d in manifests() if p.parent.name == "base"}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}


def test_probes_use_ready_health_and_a_startup_probe():
    assert CONTAINER["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert CONTAINER["livenessProbe"]["httpGet"]["path"] == "/health"
    assert CONTAINER["startupProbe"]["httpGet"]["path"] == "/ready"


def test_runs_as_the_dockerfiles_numeric_user_without_privileges():
    user = re.search(r"^USER (\d+)(?::(\d+))?$", (ROOT / "Dockerfile").read_text(), re.M)
    assert user, "the Dockerfile's USER must be numeric"
    assert POD["securityContext"]["runAsNonRoot"] is True
    assert POD["securityContext"]["runAsUser"] == int(user.group(1)) > 0
    assert POD["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = CONTAINER["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert POD["automountServiceAccountToken"] is False


def test_every_writable_path_is_an_emptydir():
    mounts = {m["mountPath"]: m["name"] for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in POD["volumes"]}
    for path in (ENV["NSFW_TMP_DIR"], ENV["PROMETHEUS_MULTIPROC_DIR"]):
        assert path in mounts, f"{path} is not mounted (the root filesystem is read-only)"
        assert "emptyDir" in volumes[mounts[path]]


def _mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


def test_memory_limit_covers_every_worker_and_decoder_at_its_cap():
    """Workers come from the CPU quota; each can hold its express decoder and its general ones at their caps."""
    resources = CONTAINER["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), kind
    workers = int(resources["limits"]["cpu"])
    settings = Settings.from_env({k: v for k, v in ENV.items() if v is not None})
    assert "WEB_CONCURRENCY" not in ENV, "workers are sized from the CPU quota"
    per_worker = WORKER_MB + EXPRESS_DECODER_MB + settings.decoders * settings.decode_memory_mb
    assert _mib(resources["limits"]["memory"]) >= MASTER_MB + workers * per_worker
    assert _mib(resources["requests"]["memory"]) <= _mib(resources["limits"]["memory"])


def test_termination_grace_covers_prestop_and_gunicorns_graceful_timeout():
    settings = Settings.from_env({k: v for k, v in ENV.items() if v is not None})
    pre_stop = int(CONTAINER["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert POD["terminationGracePeriodSeconds"] > pre_stop + settings.graceful_timeout


def test_prometheus_annotations_point_at_the_container_port():
    annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == CONTAINER["ports"][0]["containerPort"] == int(ENV["PORT"])


def test_service_hpa_and_pdb_select_the_deployments_pods():
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert find("Service", "nsfw-service")["spec"]["selector"].items() <= labels.items()
    assert find("PodDisruptionBudget", "nsfw-service")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = find("HorizontalPodAutoscaler", "nsfw-service")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nsfw-service"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in DEPLOYMENT["spec"], "the HPA owns the replica count"


def _egress_allows(policy: dict, address: str, port: int) -> bool:
    """Whether an ipBlock rule of this policy lets traffic to ``address:port`` out."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        ports = {p["port"] for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None:
                continue
            net = ipaddress.ip_network(block["cidr"])
            if ip.version == net.version and ip in net:
                if not any(ip in ipaddress.ip_network(e) for e in block.get("except", []) if ip.version == net.version):
                    return True
    return False


PRIVATE = [
    "169.254.169.254",  # cloud metadata
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "100.64.0.1",
    "0.0.0.0",
    "fd00:ec2::254",  # AWS IPv6 metadata
    "fe80::1",
    "::1",
]


@pytest.mark.parametrize("address", PRIVATE)
def test_network_policy_denies_private_and_metadata_addresses(address):
    policy = find("NetworkPolicy", "nsfw-service-egress")
    assert "Egress" in policy["spec"]["policyTypes"]
    for port in (80, 443, 53):
        assert not _egress_allows(policy, address, port)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_network_policy_allows_public_addresses_and_cluster_dns(address):
    policy = find("NetworkPolicy", "nsfw-service-egress")
    assert _egress_allows(policy, address, 443) and _egress_allows(policy, address, 80)
    dns = [r for r in policy["spec"]["egress"] if any("podSelector" in peer for peer in r["to"])]
    assert dns and {p["port"] for p in dns[0]["ports"]} == {53}


def test_the_redis_component_points_the_service_at_its_redis():
    patch = documents(KUBE / "components" / "redis" / "nsfw-env.yaml")[0]
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["name"] == CONTAINER["name"]
    env = {e["name"]: e["value"] for e in container["env"]}
    service = find("Service", "redis")
    port = service["spec"]["ports"][0]["port"]
    assert env == {
        "NSFW_RATE_LIMIT_STORAGE": f"redis://redis:{port}/0",
        "NSFW_CACHE_URL": f"redis://redis:{port}/1",
    }
    # the egress policy denies pod addresses; the component lets the service reach Redis
    to_redis = find("NetworkPolicy", "nsfw-service-to-redis")
    assert to_redis["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": port}]


def test_dockerfile_leaves_workers_to_the_cpu_quota():
    text = (ROOT / "Dockerfile").read_text()
    assert "WEB_CONCURRENCY" not in re.sub(r"#.*", "", text)
    assert re.search(r"useradd .*--uid 10001", text)
