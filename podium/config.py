"""House configs: ``houses/<key>.yaml``, validated before anything runs.

A house enables connectors with a few lines of YAML. What is refused — all mistakes of a file at
once, each naming the file and the key, with "did you mean" for near misses: anything the house
schema does not allow, a schedule Airflow would not accept (checked with croniter), an unknown
connector, stream or setting, any inline secret (credentials are references only: an Airflow
connection id, or environment variable names), and anything outside the house's boundary
(``podium.boundary``: its own credential namespace, local files under its data root, its S3 prefix).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from podium.boundary import FleetBoundary, HouseBoundary, fleet_boundary
from podium.errors import ConfigError
from podium.fleet import schedule_problem
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
    workers: int | str | None = None  # mapping processes for this connector's syncs (None: the default)


@dataclass(frozen=True)
class HouseConfig:
    key: str
    name: str
    kind: str
    timezone: str
    connectors: dict[str, ConnectorConfig]
    path: Path = field(default=Path("."))
    boundary: HouseBoundary | None = None  # what the house may reach; None: the default fleet rules

    def limits(self) -> HouseBoundary:
        """The house's boundary (credentials, local files, S3), from its fleet's rules."""
        return self.boundary or fleet_boundary(self.path.parent).for_house(self.key, self.path)

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


def parse_house(data: Any, path: Path, boundary: FleetBoundary | None = None) -> HouseConfig:
    """Validate a parsed house document; raise one ConfigError listing every mistake, each naming file
    and key. ``boundary`` (default: the rules of ``_fleet.yaml`` beside the file) limits what the house reaches."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a house config is a mapping, got {type(data).__name__}")
    problems = _house_problems(data, path, boundary or fleet_boundary(path.parent))
    if problems:
        head = f"{path}: {len(problems)} problems\n" if len(problems) > 1 else ""
        raise ConfigError(head + "\n".join(problems))
    connectors = {name: _connector_config(name, raw or {}) for name, raw in data["connectors"].items()}
    key = data["house"]
    rules = boundary or fleet_boundary(path.parent)
    return HouseConfig(key=key, name=data["name"], kind=data["kind"],
                       timezone=data.get("timezone", "Europe/Brussels"), connectors=connectors, path=path,
                       boundary=rules.for_house(key, path))


def _house_problems(data: dict[str, Any], path: Path, rules: FleetBoundary) -> list[str]:
    problems = _inline_secret_problems(data, path)
    errors = sorted(_house_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    for error in errors:
        message = error.message
        if error.validator == "oneOf" and list(error.absolute_path)[-1:] == ["credentials"]:
            message = "credentials must be {conn_id: ID} or {env: {field: ENV_VAR}} — references only"
        problems.append(f"{_where(path, error)}: {message}")
    key = data.get("house")
    if isinstance(key, str):
        expected = path.stem
        if path.suffix in (".yaml", ".yml") and expected != key and not expected.startswith("_"):
            problems.append(f"{path}: house: house '{key}' must live in {key}.yaml")
    try:
        ZoneInfo(str(data.get("timezone", "Europe/Brussels")))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{path}: timezone: unknown time zone {data.get('timezone')!r}")
    connectors = data.get("connectors")
    if isinstance(connectors, dict):
        house = rules.for_house(key if isinstance(key, str) else path.stem, path)
        for name, raw in connectors.items():
            if isinstance(raw, dict) or raw is None:
                problems.extend(_connector_problems(str(name), raw or {}, path, house))
    return list(dict.fromkeys(problems))


def _inline_secret_problems(data: dict[str, Any], path: Path) -> list[str]:
    problems = []
    for name, raw in (data.get("connectors") or {}).items():
        settings = (raw or {}).get("settings") if isinstance(raw, dict) else None
        if not isinstance(settings, dict):
            continue
        for key in settings:
            lowered = str(key).lower()
            if lowered.endswith(("_url", "_uri", "_path", "_file")):
                continue  # where a secret is fetched from, not the secret itself
            if any(word in lowered for word in _SECRET_WORDS):
                problems.append(f"{path}: connectors.{name}.settings.{key}: inline secret refused — "
                                f"reference it with credentials.conn_id or credentials.env")
    return problems


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _connector_problems(name: str, raw: dict[str, Any], path: Path, house: HouseBoundary) -> list[str]:
    where = f"{path}: connectors.{name}"
    if name not in connector_names():
        known = connector_names()
        return [f"{where}: unknown connector '{name}' ({_did_you_mean(name, known)}known: {', '.join(known)})"]
    problems: list[str] = []
    schedule = schedule_problem(raw.get("schedule"))
    if schedule:
        problems.append(f"{where}.schedule: {schedule[0]} — {schedule[1]}")
    cls = get_connector(name)
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        settings = {}
    secret_fields = cls.secret_fields()
    known = [k for k in cls.config_spec.get("properties", {}) if k not in secret_fields]
    for key in settings:
        if key in secret_fields:
            problems.append(f"{where}.settings.{key}: inline secret refused — reference it with "
                            f"credentials.conn_id or credentials.env")
        elif key not in known:
            problems.append(f"{where}.settings.{key}: unknown setting ({_did_you_mean(str(key), known)}"
                            f"known: {', '.join(sorted(known))})")
    validator = jsonschema.Draft202012Validator(_without_secrets(cls.config_spec, set(secret_fields)))
    for error in sorted(validator.iter_errors(settings), key=lambda e: list(e.absolute_path)):
        location = ".".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}.settings{'.' + location if location else ''}: {error.message}")
    problems.extend(f"{where}.settings.{key}: {reason}" for key, reason in _reach_problems(cls, settings, house))
    streams = raw.get("streams")
    if isinstance(streams, list):
        names = [s.name for s in cls.streams]
        for stream in streams:
            if stream not in names:
                problems.append(f"{where}.streams: unknown stream '{stream}' ({_did_you_mean(str(stream), names)}"
                                f"known: {', '.join(names)})")
    credentials = raw.get("credentials")
    required_secrets = cls.required_secrets()
    if required_secrets and not credentials:
        problems.append(f"{where}.credentials: required — the connector needs "
                        f"{', '.join(sorted(required_secrets))} (by reference: conn_id or env)")
    if isinstance(credentials, dict) and isinstance(credentials.get("env"), dict):
        missing = [f for f in required_secrets if f not in credentials["env"]]
        if missing:
            problems.append(f"{where}.credentials.env: no variable named for {', '.join(missing)}")
        unknown = [f for f in credentials["env"] if f not in secret_fields]
        if unknown:
            problems.append(f"{where}.credentials.env: unknown secret field(s) {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(secret_fields))})")
    problems.extend(f"{where}.credentials.{key}: {reason}"
                    for key, reason in house.credential_refusals(name, credentials))
    return problems


def _reach_problems(cls: type[Any], settings: dict[str, Any], house: HouseBoundary) -> list[tuple[str, str]]:
    """Settings that point outside the house: local paths (spec ``"format": "local-path"``) and S3
    locations (spec ``"x-s3": "bucket"``/``"prefix"``)."""
    problems: list[tuple[str, str]] = []
    properties = cls.config_spec.get("properties", {})
    bucket = prefix = None
    for key, value in settings.items():
        spec = properties.get(key) or {}
        if spec.get("format") == "local-path" and isinstance(value, str):
            reason = house.path_refusal(value)
            if reason:
                problems.append((key, reason))
        if spec.get("x-s3") == "bucket":
            bucket = key
        elif spec.get("x-s3") == "prefix":
            prefix = key
    if bucket and isinstance(settings.get(bucket), str):
        prefix_value = str(settings.get(prefix, "") if prefix else "")
        reason = house.s3_refusal(settings[bucket], prefix_value)
        if reason:
            problems.append((bucket if reason.startswith("bucket") or not prefix else prefix, reason))
    return problems


def _connector_config(name: str, raw: dict[str, Any]) -> ConnectorConfig:
    streams = raw.get("streams")
    return ConnectorConfig(name=name, enabled=bool(raw.get("enabled", True)), schedule=raw.get("schedule"),
                           streams=list(streams) if streams else None, settings=dict(raw.get("settings") or {}),
                           credentials=raw.get("credentials"), workers=raw.get("workers"))


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
