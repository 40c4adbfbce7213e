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
    assert "solo" in compose["services"]["worker-gpu"]["command"]


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
