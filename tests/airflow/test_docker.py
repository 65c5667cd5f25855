"""The Docker files' structure (Docker cannot run here): services, pinned images, env wiring."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_dockerfile_extends_the_pinned_airflow_image_and_installs_this_package() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M)
    assert base and base.group(1).startswith("apache/airflow:3.3.2")
    assert "constraints-${AIRFLOW_VERSION}" in text and "AIRFLOW_VERSION=3.3.2" in text
    # A regular install: the wheel carries mappings/ and schemas/ (no editable-install workaround).
    assert re.search(r'pip install .*\n(.*\n)*\s*"/opt/podium\[postgres', text)
    assert "-e " not in text and "PODIUM_HOME" not in text
    for folder in ("podium", "connectors", "plugins", "mappings", "schemas", "dags"):
        assert f"COPY --chown=airflow:0 {folder} ./{folder}" in text
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/podium/dags" in text


def test_compose_has_every_service_of_a_celery_deployment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis", "minio", "sandboxes"):
        assert name in services, name
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker"}


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", (name, image)
        assert re.search(r"\d", tag), (name, image)


def test_airflow_services_share_the_env_wiring(compose: dict[str, Any]) -> None:
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        service = compose["services"][name]
        env = _env(service)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080"), name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False", name
        assert env["PODIUM_DB_URL"].startswith("postgresql+psycopg://") and "@postgres:5432/podium" in env["PODIUM_DB_URL"]
        assert env["PODIUM_ARCHIVE_URL"].startswith("s3://") and env["PODIUM_ARCHIVE_S3_ENDPOINT"] == "http://minio:9000"
        assert env["PODIUM_HOUSES_DIR"] == "/opt/podium/houses"
        assert service["image"] == "podium-hub-airflow:0.1.0"
        assert service["build"]["dockerfile"] == "docker/Dockerfile"


def test_secrets_come_from_the_env_file_not_the_compose_file(compose: dict[str, Any]) -> None:
    text = (DOCKER / "docker-compose.yaml").read_text()
    for variable in ("POSTGRES_PASSWORD", "PODIUM_DB_PASSWORD", "AIRFLOW_JWT_SECRET", "MINIO_ROOT_PASSWORD"):
        assert "${" + variable in text
        assert re.search(rf"^{variable}=", (DOCKER / ".env.example").read_text(), re.M)


def test_services_start_in_order_and_init_prepares_db_pools_and_connections(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "plugins.podium_provider.pools" in init
    assert "airflow connections import" in init
    assert services["sandboxes"]["network_mode"] == "service:airflow-worker"
    assert (DOCKER / "postgres-init.sh").exists()
