"""House configs: ``houses/<key>.yaml``, validated before anything runs.

A house enables connectors with a few lines of YAML. What is refused, with a message naming the
file and the key: anything the house schema does not allow, an unknown connector or stream
(listing the known names), a setting the connector's spec does not allow, and any inline secret —
credentials are references only (an Airflow connection id, or environment variable names).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from podium.errors import ConfigError
from podium.paths import SCHEMAS_DIR, houses_dir
from podium.registry import connector_names, get_connector

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Keys that are secrets whatever a connector's spec says: refused in ``settings``.
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "private_key", "access_key")


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    enabled: bool
    schedule: str | None
    streams: list[str] | None
    settings: dict[str, Any]
    credentials: dict[str, Any] | None


@dataclass(frozen=True)
class HouseConfig:
    key: str
    name: str
    kind: str
    timezone: str
    connectors: dict[str, ConnectorConfig]
    path: Path = field(default=Path("."))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def connector(self, name: str) -> ConnectorConfig:
        """The enabled connector ``name``; otherwise a ConfigError listing what the house enables."""
        config = self.connectors.get(name)
        if config is None or not config.enabled:
            enabled = ", ".join(n for n, c in self.connectors.items() if c.enabled) or "none"
            raise ConfigError(f"{self.path}: house '{self.key}' does not enable connector '{name}' (enabled: {enabled})")
        return config


def _house_validator() -> jsonschema.Draft202012Validator:
    import json

    schema = json.loads((SCHEMAS_DIR / "house.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _where(path: Path, error: jsonschema.ValidationError) -> str:
    location = ".".join(str(p) for p in error.absolute_path)
    return f"{path}: {location or '(top level)'}"


def parse_house(data: Any, path: Path) -> HouseConfig:
    """Validate a parsed house document; raise ConfigError naming file and key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a house config is a mapping, got {type(data).__name__}")
    _refuse_inline_secrets(data, path)
    errors = sorted(_house_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        message = error.message
        if error.validator == "oneOf" and list(error.absolute_path)[-1:] == ["credentials"]:
            message = "credentials must be {conn_id: ID} or {env: {field: ENV_VAR}} — references only"
        raise ConfigError(f"{_where(path, error)}: {message}")
    expected = path.stem
    if path.suffix in (".yaml", ".yml") and expected != data["house"] and not expected.startswith("_"):
        raise ConfigError(f"{path}: house '{data['house']}' must live in {data['house']}.yaml")
    try:
        ZoneInfo(data.get("timezone", "Europe/Brussels"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: timezone: unknown time zone {data.get('timezone')!r}") from None
    connectors = {}
    for name, raw in data["connectors"].items():
        connectors[name] = _parse_connector(name, raw or {}, path)
    return HouseConfig(key=data["house"], name=data["name"], kind=data["kind"],
                       timezone=data.get("timezone", "Europe/Brussels"), connectors=connectors, path=path)


def _refuse_inline_secrets(data: dict[str, Any], path: Path) -> None:
    for name, raw in (data.get("connectors") or {}).items():
        settings = (raw or {}).get("settings") or {}
        if not isinstance(settings, dict):
            continue
        for key in settings:
            lowered = key.lower()
            if lowered.endswith(("_url", "_uri", "_path", "_file")):
                continue  # where a secret is fetched from, not the secret itself
            if any(word in lowered for word in _SECRET_WORDS):
                raise ConfigError(f"{path}: connectors.{name}.settings.{key}: inline secret refused — "
                                  f"reference it with credentials.conn_id or credentials.env")


def _parse_connector(name: str, raw: dict[str, Any], path: Path) -> ConnectorConfig:
    where = f"{path}: connectors.{name}"
    if name not in connector_names():
        raise ConfigError(f"{where}: unknown connector '{name}' (known: {', '.join(connector_names())})")
    cls = get_connector(name)
    settings = dict(raw.get("settings") or {})
    secret_fields = cls.secret_fields()
    for key in settings:
        if key in secret_fields:
            raise ConfigError(f"{where}.settings.{key}: inline secret refused — reference it with "
                              f"credentials.conn_id or credentials.env")
    spec = cls.config_spec
    known = [k for k in spec.get("properties", {}) if k not in secret_fields]
    for key in settings:
        if key not in known:
            raise ConfigError(f"{where}.settings.{key}: unknown setting (known: {', '.join(sorted(known))})")
    settings_schema = _without_secrets(spec, set(secret_fields))
    validator = jsonschema.Draft202012Validator(settings_schema)
    errors = sorted(validator.iter_errors(settings), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        location = ".".join(str(p) for p in error.absolute_path)
        raise ConfigError(f"{where}.settings{'.' + location if location else ''}: {error.message}")
    streams = raw.get("streams")
    if streams:
        known = [s.name for s in cls.streams]
        for stream in streams:
            if stream not in known:
                raise ConfigError(f"{where}.streams: unknown stream '{stream}' (known: {', '.join(known)})")
    credentials = raw.get("credentials")
    required_secrets = cls.required_secrets()
    if required_secrets and not credentials:
        raise ConfigError(f"{where}.credentials: required — the connector needs {', '.join(sorted(required_secrets))} "
                          f"(by reference: conn_id or env)")
    if credentials and "env" in credentials:
        missing = [f for f in required_secrets if f not in credentials["env"]]
        if missing:
            raise ConfigError(f"{where}.credentials.env: no variable named for {', '.join(missing)}")
        unknown = [f for f in credentials["env"] if f not in secret_fields]
        if unknown:
            raise ConfigError(f"{where}.credentials.env: unknown secret field(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(secret_fields))})")
    return ConnectorConfig(name=name, enabled=bool(raw.get("enabled", True)), schedule=raw.get("schedule"),
                           streams=list(streams) if streams else None, settings=settings, credentials=credentials)


def _without_secrets(schema: Any, secrets: set[str]) -> Any:
    """The connector spec as it applies to ``settings``: secret properties (and every ``required``
    that names them, conditional ones included) removed — secrets arrive by reference."""
    if isinstance(schema, list):
        return [_without_secrets(item, secrets) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "required" and isinstance(value, list):
            out[key] = [name for name in value if name not in secrets]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: _without_secrets(v, secrets) for k, v in value.items() if k not in secrets}
        else:
            out[key] = _without_secrets(value, secrets)
    return out


def load_house(path: str | os.PathLike[str]) -> HouseConfig:
    """Read and validate one house config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read house config: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return parse_house(data, path)


def house_files(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """The house config files of a folder (files starting with '_' are fleet-level, not houses)."""
    folder = Path(directory) if directory is not None else houses_dir()
    return sorted(p for p in folder.glob("*.y*ml") if not p.name.startswith("_"))


def load_houses(directory: str | os.PathLike[str] | None = None) -> list[HouseConfig]:
    """Every house config of a folder (default ``PODIUM_HOUSES_DIR`` or ``./houses``), validated."""
    return [load_house(path) for path in house_files(directory)]


def find_house(key_or_path: str) -> HouseConfig:
    """A house by file path, or by key in the houses folder."""
    path = Path(key_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_house(path)
    candidate = houses_dir() / f"{key_or_path}.yaml"
    if candidate.exists():
        return load_house(candidate)
    known = ", ".join(p.stem for p in house_files()) or "none"
    raise ConfigError(f"no house '{key_or_path}' in {houses_dir()} (known: {known})")
