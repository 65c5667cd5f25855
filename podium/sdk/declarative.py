"""A whole REST connector declared as data (a dict, or YAML loaded into one), like dlt's ``rest_api``.

The paginator and auth kinds are the names of ``PAGINATOR_MAP`` and ``AUTH_MAP``; cursor formats the
names of ``CURSOR_FORMATS``. Values may be ``{config.name}`` templates, filled from the house's
settings when a read starts (a template that is only ``{config.name}`` keeps the setting's type)::

    {"name": "acme", "base_url": "{config.base_url}",
     "auth": {"kind": "api_key_header", "key": "{config.api_key}", "header": "x-api-key"},
     "config_spec": {...},                                   # JSON Schema, secrets marked
     "streams": [{"name": "events", "entity": "event", "primary_key": "id", "path": "events",
                  "records_path": "items",
                  "single_record_key": "id", "page_markers": ["total"],   # optional: GET events/{id} too
                  "paginator": {"kind": "offset", "limit": "{config.page_size}", "total_path": "total"},
                  "params": {"sort": "updated_at"},
                  "incremental": {"cursor_path": "updated_at", "param": "updated_since", "format": "iso_utc"}}]}

A declaration that names an unknown kind fails when it is loaded, listing the known names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from requests.auth import AuthBase

from podium.errors import ConfigError
from podium.parsing.json import JsonRecords
from podium.sdk.auth import auth_class, make_auth
from podium.sdk.connector import StreamSpec
from podium.sdk.cursors import cursor_format
from podium.sdk.paginators import PAGINATOR_MAP
from podium.sdk.rest import Incremental, Paginate, RestConnector, RestStream, resolve

_PERMISSIVE_SPEC = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}


def _kind(declaration: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    options = dict(declaration)
    kind = options.pop("kind", None)
    if not isinstance(kind, str):
        raise ConfigError(f"{where}: 'kind' is required")
    return kind, options


def _paginate(declaration: Mapping[str, Any], where: str) -> Paginate:
    kind, options = _kind(declaration, where)
    if kind not in PAGINATOR_MAP:
        raise ConfigError(f"{where}: unknown paginator '{kind}' (known: {', '.join(sorted(PAGINATOR_MAP))})")
    return Paginate(kind, **options)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _stream(declaration: Mapping[str, Any], default_paginator: Mapping[str, Any] | None, connector: str) -> RestStream:
    name = str(declaration.get("name") or "")
    where = f"connector '{connector}' stream '{name}'"
    missing = [key for key in ("name", "entity", "primary_key", "path") if not declaration.get(key)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    incremental = declaration.get("incremental")
    if incremental is not None:
        incremental = Incremental(**incremental)
        cursor_format(incremental.format)  # an unknown format fails now, not at the first read
    paginator = declaration.get("paginator") or default_paginator
    if paginator is None:
        raise ConfigError(f"{where}: no paginator (declare one for the stream or the connector)")
    spec = StreamSpec(name, str(declaration["entity"]), str(declaration["primary_key"]),
                      JsonRecords(str(declaration.get("records_path", "")),
                                  single_record_key=_optional_str(declaration.get("single_record_key")),
                                  page_markers=tuple(str(m) for m in declaration.get("page_markers") or ())),
                      cursor=incremental.cursor_path if incremental else None,
                      description=str(declaration.get("description", "")))
    return RestStream(spec, path=str(declaration["path"]), paginator=_paginate(paginator, where),
                      params=dict(declaration.get("params") or {}), incremental=incremental)


def load_rest_connector(path: str | Path) -> type[RestConnector]:
    """A ``RestConnector`` class from a YAML declaration file."""
    import yaml

    declaration = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(declaration, Mapping):
        raise ConfigError(f"{path}: a connector declaration is a mapping")
    return rest_connector(declaration)


def rest_connector(declaration: Mapping[str, Any]) -> type[RestConnector]:
    """A ``RestConnector`` class from a dict declaration (see the module docstring)."""
    name = declaration.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("a declared connector needs a 'name'")
    streams = tuple(_stream(s, declaration.get("paginator"), name) for s in declaration.get("streams") or ())
    if not streams:
        raise ConfigError(f"connector '{name}' declares no streams")
    base_url = declaration.get("base_url")
    if not isinstance(base_url, str):
        raise ConfigError(f"connector '{name}': 'base_url' is required")
    auth = declaration.get("auth")
    auth_kind, auth_options = _kind(auth, f"connector '{name}' auth") if auth else (None, {})
    if auth_kind is not None:
        auth_class(auth_kind)  # an unknown kind lists the known ones now

    def base(self: RestConnector) -> str:
        return str(resolve(base_url, self))

    def make(self: RestConnector) -> AuthBase | None:
        return make_auth(auth_kind, **resolve(auth_options, self)) if auth_kind else None

    attributes: dict[str, Any] = {
        "name": name, "title": str(declaration.get("title", name)),
        "config_spec": dict(declaration.get("config_spec") or _PERMISSIVE_SPEC),
        "rest_streams": streams, "base_url": base, "auth": make,
        "__doc__": f"The declared REST connector '{name}'.",
    }
    for optional in ("version", "sandbox", "requests_per_second"):
        if optional in declaration:
            attributes[optional] = declaration[optional]
    return type(f"Declared{name.title().replace('_', '')}Connector", (RestConnector,), attributes)
