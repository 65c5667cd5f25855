"""Shared fixtures: a pinned calendar day, isolated var/ folders, and stores on SQLite and on the real
PostgreSQL server that ``scripts/test.sh`` starts (``PODIUM_TEST_PG_URL``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from podium import clock
from podium.store import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "vendor-samples"
# A mid-season Wednesday, far from a daylight-saving switch; CI re-runs the date-sensitive tests on
# other days with PODIUM_TEST_TODAY (scripts/test.sh).
DEFAULT_TEST_TODAY = "2026-02-11"
TEST_TODAY = clock.parse_day(os.environ.get("PODIUM_TEST_TODAY") or DEFAULT_TEST_TODAY, "PODIUM_TEST_TODAY")


def pytest_configure(config: pytest.Config) -> None:
    # Set before collection, so module-level code and every `podium` subprocess see the same day.
    os.environ[clock.ENV] = TEST_TODAY.isoformat()


def pytest_report_header(config: pytest.Config) -> str:
    return f"today pinned to {TEST_TODAY.isoformat()} ({clock.ENV}; set PODIUM_TEST_TODAY to change it)"


@pytest.fixture(scope="session", autouse=True)
def today() -> date:
    """The calendar day every test runs on: no test depends on the real date."""
    os.environ[clock.ENV] = TEST_TODAY.isoformat()
    return TEST_TODAY


@pytest.fixture(autouse=True)
def _isolated_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the developer's var/ or reads their PODIUM_* settings."""
    monkeypatch.setenv("PODIUM_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("PODIUM_DB_URL", raising=False)
    monkeypatch.setenv("PODIUM_ARCHIVE_URL", (tmp_path / "archive").as_uri())


def _pg_url() -> str | None:
    url = os.environ.get("PODIUM_TEST_PG_URL")
    if not url and os.environ.get("CI"):
        raise RuntimeError("CI must run the store tests on PostgreSQL: PODIUM_TEST_PG_URL is not set")
    return url


def _fresh_pg_database(base_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    name = "podium_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name, name


def _drop_pg_database(base_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'podium.db'}"
        return
    base = _pg_url()
    if not base:
        pytest.skip("PostgreSQL not started (run through scripts/test.sh)")
    url, name = _fresh_pg_database(base)
    try:
        yield url
    finally:
        _drop_pg_database(base, name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    store = Store(store_url)
    store.migrate()
    yield store
    store.dispose()
