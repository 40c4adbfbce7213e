"""docker-compose.yml: valid against the Compose Specification, and shaped as the README says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import SHARED
from workers.seam import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


def test_valid_against_compose_spec(compose: dict) -> None:
    if docker_engine():
        proc = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = SHARED / "schemas" / "compose-spec.json"
    if not schema_path.exists():
        pytest.skip(f"no Docker engine and no schema at {schema_path}")
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(compose, schema)  # raises with the path of the first error


def test_schema_rejects_a_broken_file(compose: dict) -> None:
    """The validation above would notice a mistake (guards against a vacuous schema)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = SHARED / "schemas" / "compose-spec.json"
    if not schema_path.exists():
        pytest.skip("no compose schema")
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["healthcheck"]["interval"] = ["not", "a", "duration"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(schema_path.read_text()))


def test_every_service_has_a_health_check(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert "healthcheck" in service, f"{name} has no healthcheck"


def test_gpu_worker_reserves_an_nvidia_device(compose: dict) -> None:
    devices = compose["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    command = compose["services"]["worker-gpu"]["command"]
    # prefork with one child: time limits, redelivery and pings work (the solo pool ignores them)
    assert command[command.index("--pool") + 1] == "prefork"
    assert command[command.index("--concurrency") + 1] == "1"


def test_gpu_image_pins_one_cuda_12_set() -> None:
    text = (REPO / "deploy" / "Dockerfile.gpu").read_text()
    assert '"onnxruntime-gpu[cuda,cudnn]==1.26.0"' in text  # the last CUDA 12 build
    pins = dict(re.findall(r"(nvidia-[a-z-]+-cu12)==([\d.]+)", text))
    assert pins["nvidia-cudnn-cu12"].startswith("9.") and pins[
        "nvidia-cuda-runtime-cu12"
    ].startswith("12.")
    assert not re.search(r"cu13|>=", text)


def test_hardened(compose: dict) -> None:
    """Published on 127.0.0.1 unless PUBLISH_ADDRESS says otherwise, Flower behind basic auth,
    Redis with a password from a secret and bounded memory, memory limits, pinned images,
    no root, a .dockerignore."""
    services = compose["services"]
    for name in ("gateway", "flower"):
        for port in services[name]["ports"]:
            assert port.startswith("${PUBLISH_ADDRESS:-127.0.0.1}:"), port
    assert "--basic-auth" in " ".join(services["flower"]["entrypoint"])
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--requirepass" in redis_cmd and "/run/secrets/redis_password" in redis_cmd
    assert "--maxmemory " in redis_cmd and "appendonly yes" in redis_cmd
    for name, service in services.items():
        assert "mem_limit" in service, f"{name} has no memory limit"
        image = service.get("image", "")
        if not image.startswith("ms-nowcast"):  # third-party images: pinned, not root
            assert re.search(r":\d+\.\d+\.\d+", image), f"{name}: unpinned image {image}"
            assert service.get("user") not in (None, "root", "0"), f"{name} runs as root"
        if name != "flower":
            assert "redis_password" in service.get("secrets", []), name
    for dockerfile in (REPO / "deploy").glob("Dockerfile*"):
        text = dockerfile.read_text()
        assert re.search(r"^USER (?!root)", text, re.M), f"{dockerfile.name} runs as root"
        assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", text, re.M), dockerfile.name
    assert ".venv" in (REPO / ".dockerignore").read_text()


def test_profiles_and_dependencies(compose: dict) -> None:
    services = compose["services"]
    assert services["worker-cpu"]["profiles"] == ["cpu"]
    assert services["trainer"]["profiles"] == ["train"]
    assert "appendonly" in " ".join(services["redis"]["command"])  # Redis with persistence
    for name in ("gateway", "worker-gpu", "worker-cpu", "flower"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_dockerfiles_exist_and_copy_existing_paths(compose: dict) -> None:
    for service in compose["services"].values():
        build = service.get("build")
        if not build:
            continue
        dockerfile = REPO / build["dockerfile"]
        assert dockerfile.exists(), dockerfile
        for src in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile.read_text(), re.M):
            for part in src.split():
                assert (REPO / part).exists(), f"{dockerfile.name} copies missing {part}"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"NOWCAST_{name.upper()}" in readme or name == "redis_url", name
    assert "REDIS_URL" in readme


def test_the_trainer_command_is_accepted_by_train_job(compose: dict):
    pytest.importorskip("torch")
    from workers.train_job import build_parser

    args = build_parser().parse_args(compose["services"]["trainer"]["command"])
    assert args.model_dir == "/app/models/shipped" and args.data == ["/data"]
