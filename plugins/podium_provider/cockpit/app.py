"""The cockpit's FastAPI app, mounted by Airflow's API server under ``/podium`` (see ``plugin.py``).

It reads Podium's own store (``PODIUM_DB_URL``) and house configs (``PODIUM_HOUSES_DIR``) through the
core's read API (``podium.cockpit``), never Airflow's metadata DB. Pages are server-rendered HTML
(no build step, works in Airflow's iframe and without JavaScript); ``/podium/api/matrix`` gives the
same matrix as JSON. Inside Airflow every route needs a logged-in Airflow user, and the replay
action the right to edit DAG runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")
STATUS_WORDS = {"succeeded": "ok", "rejections": "rejections", "failed": "failed", "interrupted": "interrupted",
                "running": "running", "already_running": "running", "never": "never run"}


@cache
def _templates() -> Environment:
    from podium.cockpit import human_age

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["age"] = human_age
    env.filters["stamp"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"
    env.globals["status_word"] = lambda status: STATUS_WORDS.get(status, status)
    return env


def _store() -> Any:
    from podium.store import Store

    return Store.from_env()


def _houses_dir() -> str | None:
    return os.environ.get("PODIUM_HOUSES_DIR")


def _render(name: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(name).render(**values))


def create_app(read_access: Callable[..., Any] | None = None, write_access: Callable[..., Any] | None = None,
               store_factory: Callable[[], Any] = _store) -> FastAPI:
    """The cockpit app; ``read_access``/``write_access`` are FastAPI dependencies guarding reads and the
    replay action (Airflow's auth inside the API server; tests may pass their own)."""
    reads = [Depends(read_access)] if read_access else []
    writes = [Depends(write_access)] if write_access else []
    app = FastAPI(title="Podium cockpit", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse, dependencies=reads)
    def matrix_page(request: Request, kind: str | None = None, connector: str | None = None) -> HTMLResponse:
        from podium.cockpit import fleet_matrix, read_houses

        store = store_factory()
        try:
            matrix = fleet_matrix(store, _houses_dir(), kind=kind or None, connector=connector or None)
        finally:
            store.dispose()
        every_house = read_houses(_houses_dir())
        return _render("matrix.html", matrix=matrix, kind=kind or "", connector=connector or "",
                       kinds=sorted({h.kind for h in every_house}),
                       vendors=sorted({c for h in every_house for c in h.connectors}),
                       base=str(request.scope.get("root_path", "")))

    @app.get("/api/matrix", dependencies=reads)
    def matrix_json(kind: str | None = None, connector: str | None = None) -> JSONResponse:
        from podium.cockpit import fleet_matrix

        store = store_factory()
        try:
            matrix = fleet_matrix(store, _houses_dir(), kind=kind or None, connector=connector or None)
        finally:
            store.dispose()
        return JSONResponse(_jsonable(matrix.as_json()))

    @app.get("/pair/{house}/{connector}", response_class=HTMLResponse, dependencies=reads)
    def pair_page(request: Request, house: str, connector: str, message: str | None = None) -> HTMLResponse:
        from podium.cockpit import pair_detail

        store = store_factory()
        try:
            detail = pair_detail(store, house, connector, _houses_dir())
        finally:
            store.dispose()
        if detail.house is None and not detail.runs:
            raise HTTPException(status_code=404, detail=f"no house × connector {house} × {connector}")
        return _render("pair.html", detail=detail, message=message, now=datetime.now(UTC),
                       base=str(request.scope.get("root_path", "")))

    @app.post("/pair/{house}/{connector}/replay", dependencies=writes)
    def replay(request: Request, house: str, connector: str) -> RedirectResponse:
        from podium.config import load_houses
        from podium.engine import replay_dead_letters
        from podium.errors import ConfigError

        try:
            houses = {h.key: h for h in load_houses(_houses_dir())}
        except ConfigError:
            houses = {}
        store = store_factory()
        try:
            outcome = replay_dead_letters(store, house=house, connector=connector, houses=houses)
        finally:
            store.dispose()
        message = (f"replayed {outcome.replayed}, still rejected {outcome.still_rejected}, "
                   f"not replayable {outcome.not_replayable}"
                   + (" — a sync of this pair is running: replay again when it ends" if outcome.busy else ""))
        base = str(request.scope.get("root_path", ""))
        return RedirectResponse(f"{base}/pair/{house}/{connector}?{urlencode({'message': message})}",
                                status_code=303)

    @app.get("/deadletter/{letter_id}/raw-page", dependencies=reads)
    def raw_page(letter_id: int) -> Response:
        """The archived vendor page a dead letter came from (only pages a letter names are served)."""
        from podium.archive import Archive
        from podium.errors import ConfigError

        store = store_factory()
        try:
            letter = _letter_by_id(store, letter_id)
        finally:
            store.dispose()
        if letter is None or not letter.get("archive_uri"):
            raise HTTPException(status_code=404, detail="no archived page for this dead letter")
        try:
            body = Archive().get(letter["archive_uri"])
        except (OSError, KeyError, ValueError, ConfigError) as exc:
            raise HTTPException(status_code=404, detail=f"the archived page is gone: {type(exc).__name__}") from None
        return Response(body, media_type="text/plain; charset=utf-8",
                        headers={"Content-Disposition": f'inline; filename="deadletter-{letter_id}-page.txt"'})

    return app


def _letter_by_id(store: Any, letter_id: int) -> dict[str, Any] | None:
    from sqlalchemy import select

    from podium.store.tables import dead_letters

    with store.engine.connect() as conn:
        row = conn.execute(select(dead_letters).where(dead_letters.c.id == letter_id)).first()
    return dict(row._mapping) if row is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def airflow_app() -> FastAPI:
    """The app as Airflow mounts it: reads need a logged-in user, the replay the right to edit DAG runs."""
    from airflow.api_fastapi.core_api.security import requires_access_dag, requires_authenticated

    return create_app(read_access=requires_authenticated(), write_access=requires_access_dag("PUT"))
