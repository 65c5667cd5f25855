"""The connector contract: what every connector, built-in or third-party, declares and does.

A connector declares its config spec (JSON Schema, secret fields marked ``"secret": true``), its
streams (name, canonical entity, primary key, cursor, how a served page decodes into records),
``check()``, and ``read()``: pages of raw vendor records, each with the state checkpoint that is
true once that page is stored. The engine commits a page's records and its state in one
transaction, so a sync killed anywhere resumes exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from tenacity import Retrying

from podium.boundary import HouseBoundary
from podium.errors import ConfigError
from podium.parsing import Decoder
from podium.parsing.base import EMPTY_PAGE_CONTEXT, PageContext
from podium.paths import MAPPINGS_DIR
from podium.sdk.retry import retrying


@dataclass(frozen=True)
class StreamSpec:
    """What one stream reads: declared, never computed."""

    name: str
    entity: str  # canonical entity: event | contact | ticket
    primary_key: str  # the vendor field that identifies a record
    decoder: Decoder  # how one served page/document becomes raw records
    cursor: str | None = None  # the vendor field incremental reads follow, if any
    description: str = ""


@dataclass
class Page:
    """One unit of work: raw records as served, and the state to store with them."""

    records: list[dict[str, Any]]
    state: dict[str, Any]
    raw: bytes | None = None  # the bytes as the vendor served them (archived gzip)
    raw_suffix: str = "json"  # file suffix for the archive: json, xml, csv
    label: str = ""  # human-readable position: "offset=200", "file=x.csv"
    errors: list[tuple[str, Any]] = field(default_factory=list)  # (reason, raw) for undecodable parts
    context: PageContext = EMPTY_PAGE_CONTEXT  # what the page says about all its records (tables, language)
    total: int | None = None  # how many records the whole read holds, when the vendor says (progress only)


@dataclass
class SyncContext:
    """What a connector instance knows about the house it reads for."""

    house: str
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Brussels"))
    # What the house may reach (local files, S3 prefixes): the engine always sets it; a connector built
    # directly (library use, connector tests) opens the paths its caller gives it.
    boundary: HouseBoundary | None = None


class Connector:
    """Base class of every connector. Subclasses declare; the SDK's shared pieces do the work."""

    name: ClassVar[str]
    version: ClassVar[str] = "0.1.0"
    title: ClassVar[str] = ""
    # JSON Schema (draft 2020-12) of settings + secrets; secret properties carry "secret": true and,
    # optionally, "x-connection-field" naming the Airflow connection attribute that holds them.
    config_spec: ClassVar[dict[str, Any]]
    streams: ClassVar[tuple[StreamSpec, ...]]
    # Default rate budget against this vendor, per process (requests per second).
    requests_per_second: ClassVar[float] = 10.0
    # "package.module:Class" of the vendor sandbox (imported only when asked for).
    sandbox: ClassVar[str | None] = None
    # Client timeouts against this vendor, (connect, read) seconds: a stalled vendor must not hold a
    # worker slot for long; the read timeout still covers the vendor's slowest normal page.
    timeouts: ClassVar[tuple[float, float]] = (5.0, 30.0)

    # -- how orchestration knows this connector (read by plugins/ and podium.fleet, never hard-coded there)
    # The auth kind names the Airflow connection type (``podium_<auth_kind>``); connectors of one kind
    # share a connection form. None: a connection type of its own (``podium_<name>``), labelled from
    # the config spec's secret fields.
    auth_kind: ClassVar[str | None] = None
    # The fleet's default schedule (cron or Airflow preset) and vendor pool size (how many houses talk to
    # this vendor at once); ``_fleet.yaml`` may override both.
    default_schedule: ClassVar[str | None] = "@daily"
    pool_slots: ClassVar[int] = 4
    default_owner: ClassVar[str | None] = None  # the owning team of its DAGs (else the fleet's owner)
    # For generated demo/benchmark fleets: the share of houses of each kind that use this connector, and
    # an optional group of alternatives a house uses at most one of (e.g. one box office).
    example_share: ClassVar[Mapping[str, float]] = {}
    example_group: ClassVar[str | None] = None

    def __init__(self, config: Mapping[str, Any], context: SyncContext) -> None:
        self.config = dict(config)
        self.context = context
        self.validate_config(self.config)

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        """Check settings + secrets against ``config_spec``; a ConfigError names the key, never a secret."""
        import jsonschema

        validator = jsonschema.Draft202012Validator(cls.config_spec)
        error = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
        if error is None:
            return
        path = ".".join(str(p) for p in error.absolute_path)
        secrets = cls.secret_fields()
        if error.absolute_path and str(error.absolute_path[0]) in secrets:
            message = "invalid value (not shown: it is a secret)"
        elif error.validator in ("anyOf", "oneOf") and all("required" in alt for alt in error.validator_value):
            choices = " | ".join(" + ".join(alt["required"]) for alt in error.validator_value)
            message = f"needs one of: {choices}"
        else:
            message = error.message
        raise ConfigError(f"{cls.name}: setting {path or '(top level)'}: {message}")

    # -- declarations --------------------------------------------------------------------------
    @classmethod
    def stream(cls, name: str) -> StreamSpec:
        """The stream called ``name``; an unknown name lists the known ones."""
        for spec in cls.streams:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in cls.streams)
        raise ConfigError(f"connector '{cls.name}' has no stream '{name}' (known: {known})")

    @classmethod
    def secret_fields(cls) -> dict[str, str]:
        """Secret field name -> the connection attribute that carries it (login/password/extra)."""
        props = cls.config_spec.get("properties", {})
        return {name: prop.get("x-connection-field", name) for name, prop in props.items() if prop.get("secret")}

    @classmethod
    def required_secrets(cls) -> set[str]:
        """The secret fields the spec requires (others are optional, e.g. keys for a local-folder mode)."""
        return set(cls.secret_fields()) & set(cls.config_spec.get("required", []))

    @classmethod
    def mappings_dir(cls) -> Path:
        """Where this connector's mapping files live (third-party plugins override this)."""
        return MAPPINGS_DIR / cls.name

    @classmethod
    def sandbox_class(cls) -> Any:
        """The vendor sandbox class for ``podium sandbox`` and the conformance suite."""
        if not cls.sandbox:
            raise NotImplementedError(f"connector '{cls.name}' ships no sandbox")
        import importlib

        module, _, name = cls.sandbox.partition(":")
        return getattr(importlib.import_module(module), name)

    @classmethod
    def connection_type(cls) -> str:
        """The Airflow connection type a house's ``credentials.conn_id`` is created with."""
        return f"podium_{cls.auth_kind or cls.name}"

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        """Plausible settings of house ``house`` (display name ``name``) for generated fleets."""
        return {}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        """The connection fields (login/password/extra) the vendor sandbox accepts for ``house``."""
        return {}

    @classmethod
    def prepare_demo_sandbox(cls, sandbox: Any) -> None:
        """Seed a freshly started sandbox with what the example houses read (most need nothing)."""

    def retry_policy(self) -> Retrying:
        """The retry policy of every request this connector sends (the SDK's one factory; tests pass a fast one)."""
        return retrying()

    # -- behaviour -----------------------------------------------------------------------------
    def check(self) -> None:
        """Prove the settings and credentials work; raise AuthError/ConfigError with a clear message."""
        raise NotImplementedError

    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        """Yield pages of raw records from ``state`` on; each page carries the state after it."""
        raise NotImplementedError

    @classmethod
    def replay_page(cls, stream: str, data: bytes, settings: Mapping[str, Any]) -> Page:
        """An archived page as ``podium remap`` maps it again: the served bytes, decoded by the stream's
        decoder (no vendor call; ``settings``: the house's non-secret settings of this connector). A
        connector whose pages hold more than their bytes (child requests, a context from its settings)
        overrides this, or raises ConfigError saying why it cannot."""
        from podium.parsing.base import RecordError, decode_page

        items, context = decode_page(cls.stream(stream).decoder, data)
        records: list[dict[str, Any]] = []
        errors: list[tuple[str, Any]] = []
        for item in items:
            if isinstance(item, RecordError):
                errors.append((item.reason, item.raw))
            else:
                records.append(item)
        return Page(records=records, state={}, errors=errors, context=context)

    def close(self) -> None:
        """Release sessions and files."""
