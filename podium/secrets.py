"""Secret values: resolved from references only, masked everywhere they could leak.

House configs name credentials by reference (an environment variable, or an Airflow connection
id). The core resolves them here without importing Airflow: the Airflow task installs a resolver
backed by Airflow's ``BaseHook`` (so any secrets backend works); outside Airflow, a connection id is
read the way Airflow itself reads environment connections (``AIRFLOW_CONN_<ID>``, JSON or URI).
Every resolved value is registered with the redactor, which the logging filter and the error
formatter use, so a secret never reaches logs, files, exceptions or XCom.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from podium.boundary import HouseBoundary
from podium.errors import ConfigError

MASK = "***"
_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` hides it from any text."""
    global _pattern
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        install_log_redaction()
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """Replace every registered secret value in ``text`` with ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


_factory_installed = False


def install_log_redaction() -> None:
    """Redact registered secrets in every log record at creation, whatever handler receives it.

    A record factory (not a handler filter) is used so that handlers added later — pytest's
    caplog, Airflow's task handler, urllib3's debug lines with query strings — are covered too.
    """
    global _factory_installed
    if _factory_installed:
        return
    _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _pattern is not None:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            record.msg, record.args = redact(message), None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)


# A resolver turns a connection id into a mapping of field -> value (login, password, host, extras…).
ConnectionResolver = Callable[[str], Mapping[str, Any]]


def env_connection(conn_id: str) -> Mapping[str, Any]:
    """Read ``AIRFLOW_CONN_<ID>`` as Airflow does (JSON or URI), without importing Airflow."""
    name = "AIRFLOW_CONN_" + conn_id.upper()
    raw = os.environ.get(name)
    if raw is None:
        raise ConfigError(f"connection '{conn_id}' not found (looked for environment variable {name})")
    raw = raw.strip()
    if raw.startswith("{"):
        data = json.loads(raw)
        extra = data.pop("extra", None) or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        return {**extra, **{k: v for k, v in data.items() if v is not None}}
    parts = urlsplit(raw)
    fields: dict[str, Any] = dict(parse_qsl(parts.query))
    if "__extra__" in fields:
        fields.update(json.loads(fields.pop("__extra__")))
    fields.update({"conn_type": parts.scheme, "host": parts.hostname, "port": parts.port,
                   "schema": unquote(parts.path.lstrip("/")) or None})
    if parts.username:
        fields["login"] = unquote(parts.username)
    if parts.password:
        fields["password"] = unquote(parts.password)
    return {k: v for k, v in fields.items() if v is not None}


_resolver: ConnectionResolver = env_connection


def set_connection_resolver(resolver: ConnectionResolver) -> None:
    """Install the resolver for connection ids (the Airflow adapter installs BaseHook's)."""
    global _resolver
    _resolver = resolver


def resolve_credentials(credentials: Mapping[str, Any] | None, secret_fields: Mapping[str, str],
                        *, where: str, boundary: HouseBoundary, connector: str,
                        required: set[str] | None = None) -> dict[str, str]:
    """Resolve a house config's credential references into the connector's secret fields.

    ``credentials`` is ``{"conn_id": ID}`` or ``{"env": {field: ENV_NAME}}``; ``secret_fields`` maps
    each secret field of the connector's spec to the connection attribute that carries it by default
    (``login``/``password``/an extra's name). ``required`` (default: all) must resolve; the others
    are taken when present. A reference outside the house's namespace (``boundary``) is refused
    before anything is read, whether or not the config went through ``podium check``.
    """
    required = set(secret_fields) if required is None else required
    values: dict[str, str] = {}
    refusals = boundary.credential_refusals(connector, credentials)
    if refusals:
        raise ConfigError("\n".join(f"{where}.{key}: {reason}" for key, reason in refusals))
    if not secret_fields:
        return values
    if not credentials:
        if required:
            raise ConfigError(f"{where}: credentials are required (fields: {', '.join(sorted(required))})")
        return values
    if "conn_id" in credentials:
        conn = _resolver(str(credentials["conn_id"]))
        for field, attribute in secret_fields.items():
            value = conn.get(field) if conn.get(field) is not None else conn.get(attribute)
            if value is None:
                if field in required:
                    raise ConfigError(f"{where}: connection '{credentials['conn_id']}' has no '{attribute}' "
                                      f"for secret field '{field}'")
                continue
            values[field] = str(value)
    elif "env" in credentials:
        env_refs = credentials["env"]
        for field in secret_fields:
            env_name = env_refs.get(field)
            if not env_name:
                if field in required:
                    raise ConfigError(f"{where}: credentials.env has no variable for secret field '{field}'")
                continue
            value = os.environ.get(env_name)
            if value is None:
                raise ConfigError(f"{where}: environment variable {env_name} (for '{field}') is not set")
            values[field] = value
    else:
        raise ConfigError(f"{where}: credentials must be {{conn_id: …}} or {{env: {{field: VAR}}}}")
    for value in values.values():
        register_secret(value)
    return values
