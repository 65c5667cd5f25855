"""The Docker files' structure (Docker cannot run here): services, pinned images, env wiring."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.demo import demo_connectors
from podium.registry import get_connector

DOCKER = Path(__file__).resolve().parents[2] / "docker"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")
# Every vendor an example house uses, at its sandbox's documented demo port.
SANDBOX_PORTS = {name: int(get_connector(name).sandbox_class().default_port) for name in demo_connectors()}
SANDBOXES = tuple(f"sandbox-{vendor}" for vendor in SANDBOX_PORTS)
ONE_SHOT_JOBS = {"minio-buckets", "airflow-init"}


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
    for name in (*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis", "minio", *SANDBOXES):
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
    # A task talks to the execution API from its first line: workers wait for a healthy api-server.
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    init = "\n".join(services["airflow-init"]["command"])
    # airflow-init runs as root to fill the volumes; it hands every file to the services' user last.
    assert services["airflow-init"]["user"] == "0:0"
    assert init.strip().splitlines()[-1].startswith('chown -R "${AIRFLOW_UID:-50000}:0" /opt/podium/houses')
    assert "airflow db migrate" in init
    assert "plugins.podium_provider.pools" in init
    assert "airflow connections import" in init
    assert (DOCKER / "postgres-init.sh").exists()


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(test[1:])


def test_every_long_running_service_has_a_healthcheck_with_a_command_its_image_ships(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    waited_for_completion = {dep for service in services.values()
                             for dep, how in (service.get("depends_on") or {}).items()
                             if how.get("condition") == "service_completed_successfully"}
    assert waited_for_completion == ONE_SHOT_JOBS
    for name, service in services.items():
        if name in ONE_SHOT_JOBS:
            assert "restart" not in service, name  # a job, not a service to keep up
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"].get("disable") is not True, name
    # The commands exist in those images: the official images' own tools, Airflow's CLI, Python.
    expected = {"postgres": "pg_isready -U airflow", "redis": "redis-cli ping", "minio": "mc ready local",
                "airflow-apiserver": "curl --fail http://localhost:8080/api/v2/version",
                "airflow-scheduler": "curl --fail http://localhost:8974/health"}
    for name, command in expected.items():
        assert _healthcheck_command(services[name]) == command, name
    assert "--job-type DagProcessorJob" in _healthcheck_command(services["airflow-dag-processor"])
    assert "--job-type TriggererJob" in _healthcheck_command(services["airflow-triggerer"])
    worker = _healthcheck_command(services["airflow-worker"])
    assert "celery_executor.app inspect ping" in worker and "celery@$${HOSTNAME}" in worker
    assert _env(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    for vendor, port in SANDBOX_PORTS.items():
        check = _healthcheck_command(services[f"sandbox-{vendor}"])
        assert check.startswith("python -c ") and f"('sandbox-{vendor}', {port})" in check, check


def test_no_service_is_pinned_to_another_services_network(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert not str(service.get("network_mode", "")).startswith("service:"), name
        assert "network_mode" not in service, name


def test_each_sandbox_is_a_service_bound_to_its_own_name(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for vendor, port in SANDBOX_PORTS.items():
        sandbox = services[f"sandbox-{vendor}"]
        assert sandbox["entrypoint"] == ["podium", "sandbox"]
        # Bound to the service name: the URLs the sandbox writes into its answers reach it from any worker.
        assert sandbox["command"] == [vendor, "--host", f"sandbox-{vendor}", "--port", str(port)]
        assert sandbox["image"] == "podium-hub-airflow:0.1.0" and sandbox["init"] is True
    from podium.registry import get_connector

    for vendor, port in SANDBOX_PORTS.items():
        assert get_connector(vendor).sandbox_class().default_port == port, vendor


def _compose_houses(compose: dict[str, Any], source: Path, target: Path) -> None:
    """Run the house-rewriting lines of airflow-init's script (the `find` … `done` block) on a copy."""
    script = compose["services"]["airflow-init"]["command"][1]
    lines = script.splitlines()
    block = lines[next(i for i, line in enumerate(lines) if line.startswith("find ")):
                  next(i for i, line in enumerate(lines) if line.strip() == "done") + 1]
    shell = "\n".join(block).replace("$$", "$").replace("/opt/podium/houses-example", str(source)).replace(
        "/opt/podium/houses", str(target))
    subprocess.run(["bash", "-ec", shell], check=True)


def test_the_compose_houses_reach_every_sandbox_by_service_name(compose: dict[str, Any], tmp_path: Path) -> None:
    source = DOCKER.parent / "houses"
    target = tmp_path / "houses"
    target.mkdir()
    (target / "stale.yaml").write_text("house: gone\n")
    _compose_houses(compose, source, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in source.iterdir())
    urls = []
    for house in sorted(target.glob("*.yaml")):
        text = house.read_text()
        assert "127.0.0.1" not in text and "localhost" not in text, house.name
        urls += re.findall(r"https?://[^\s'\"]+", text)
    assert urls, "the example houses name sandbox URLs"
    for url in urls:
        host_port = re.match(r"https?://([^/]+)", url)
        assert host_port, url
        host, _, port = host_port.group(1).partition(":")
        assert host in SANDBOXES and int(port) == SANDBOX_PORTS[host.removeprefix("sandbox-")], url
    # Only the URLs changed: each rewritten house is its example with loopback replaced by the service name.
    for house in sorted(source.glob("*.yaml")):
        expected = house.read_text()
        for vendor, port in SANDBOX_PORTS.items():
            expected = expected.replace(f"//127.0.0.1:{port}", f"//sandbox-{vendor}:{port}")
        assert (target / house.name).read_text() == expected, house.name


def test_every_airflow_service_reads_the_compose_houses(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        assert "houses:/opt/podium/houses:ro" in services[name]["volumes"], name
    init = services["airflow-init"]
    assert "../houses:/opt/podium/houses-example:ro" in init["volumes"]
    assert "houses:/opt/podium/houses" in init["volumes"]
    assert "houses" in compose["volumes"]


def test_the_compose_version_it_needs_is_stated(compose: dict[str, Any]) -> None:
    text = (DOCKER / "docker-compose.yaml").read_text()
    header = text.split("\nname:", 1)[0]
    assert re.search(r"Docker Compose v2\.24\.0 or later", header)
    # ... because of what the file uses: env_file's `required` (2.24.0+) and the depends_on conditions.
    assert any(isinstance(e, dict) and e.get("required") is False
               for e in compose["x-airflow-common"]["env_file"])
    assert "service_completed_successfully" in text and "service_healthy" in text
    for word in ("required: false", "service_healthy", "service_completed_successfully"):
        assert word in header, word
    assert "v2.24.0 or later" in (DOCKER / "README.md").read_text()


def test_the_login_is_documented_and_configured_as_documented(compose: dict[str, Any]) -> None:
    text = (DOCKER / "docker-compose.yaml").read_text()
    header = text.split("\nname:", 1)[0]
    readme = (DOCKER / "README.md").read_text()
    for doc in (header, readme):
        assert "http://localhost:8080" in doc and re.search(r"user `admin`|`admin` / `admin`", doc), doc[:200]
        assert "_AIRFLOW_WWW_USER_USERNAME" in doc and "_AIRFLOW_WWW_USER_PASSWORD" in doc
    services = compose["services"]
    env = _env(services["airflow-apiserver"])
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "${_AIRFLOW_WWW_USER_USERNAME:-admin}:admin"
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert passwords.startswith("/opt/airflow/auth/")
    assert "airflow-auth:/opt/airflow/auth" in services["airflow-apiserver"]["volumes"]
    init = services["airflow-init"]
    assert "airflow-auth:/opt/airflow/auth" in init["volumes"]
    init_env = _env(init)
    assert init_env["_AIRFLOW_WWW_USER_USERNAME"] == "${_AIRFLOW_WWW_USER_USERNAME:-admin}"
    assert init_env["_AIRFLOW_WWW_USER_PASSWORD"] == "${_AIRFLOW_WWW_USER_PASSWORD:-admin}"
    script = init["command"][1]
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script and "_AIRFLOW_WWW_USER_PASSWORD" in script
    example = (DOCKER / ".env.example").read_text()
    assert re.search(r"^_AIRFLOW_WWW_USER_USERNAME=admin$", example, re.M)
    assert re.search(r"^_AIRFLOW_WWW_USER_PASSWORD=admin$", example, re.M)


def test_the_init_script_writes_the_passwords_file_the_auth_manager_reads(compose: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    script = compose["services"]["airflow-init"]["command"][1]
    line = next(i for i, text in enumerate(script.splitlines()) if text.startswith("python -c 'import json"))
    lines = script.splitlines()
    shell = "\n".join(lines[line:line + 2]).replace("$$", "$").replace("python -c", f"{sys.executable} -c")
    passwords = tmp_path / "passwords.json"
    subprocess.run(["bash", "-ec", shell], check=True, env={
        "PATH": os.environ.get("PATH", ""), "_AIRFLOW_WWW_USER_USERNAME": "admin",
        "_AIRFLOW_WWW_USER_PASSWORD": 'pa"ss word', "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)})
    assert json.loads(passwords.read_text()) == {"admin": 'pa"ss word'}
