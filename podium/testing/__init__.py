"""The conformance suite every connector — built-in or third-party — must pass.

A connector's test module subclasses ``ConnectorConformance`` once and gets the standard checks::

    class TestAcmeConformance(ConnectorConformance):
        connector_class = AcmeConnector
        sandbox_options = {}                    # optional: kwargs for the connector's sandbox (started for you)
        def good_config(self, sandbox): ...     # settings + secrets pointing at the sandbox
        def bad_config(self, sandbox): ...      # the same with a wrong secret (None: no auth)

Checks: the spec is valid JSON Schema with secrets marked; ``check()`` passes with good credentials
and fails clearly with bad ones without echoing the secret; every stream's sandbox records map to
valid canonical records; two full reads give identical canonical output; an incremental read from
saved state returns only newer changes; a state from the future returns nothing without error;
429 + Retry-After is waited out; 5xx is retried; 401/403 fail at once with a clear message; no
secret value appears in any log line — all through the real engine and store where it matters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from podium.archive import Archive
from podium.boundary import FleetBoundary, HouseBoundary, house_token
from podium.canonical import ENTITIES
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import PageProcessor, run_sync
from podium.errors import AuthError
from podium.mapping import MappingContext, load_mapping
from podium.sdk.connector import Connector, Page, SyncContext
from podium.store import Store

__all__ = ["ConnectorConformance", "read_stream"]


def read_stream(connector: Connector, stream: str, state: dict[str, Any] | None = None,
                max_pages: int = 10_000) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[Page]]:
    """Read a stream to the end: (raw records, final state, pages)."""
    records: list[dict[str, Any]] = []
    pages: list[Page] = []
    final: dict[str, Any] | None = dict(state) if state else None
    for index, page in enumerate(connector.read(stream, state)):
        pages.append(page)
        records.extend(page.records)
        final = page.state
        if index >= max_pages:
            raise AssertionError(f"{stream}: more than {max_pages} pages — a paging loop?")
    return records, final, pages


class ConnectorConformance:
    """Subclass in a connector's test module (class name starting with ``Test``)."""

    connector_class: ClassVar[type[Connector]]
    incremental: ClassVar[bool] = True  # False for window-based vendors without a change filter
    http_faults: ClassVar[bool] = True  # False when the transport is not HTTP the sandbox controls
    house: ClassVar[str] = "conformance-house"
    sandbox_options: ClassVar[dict[str, Any]] = {}  # keyword arguments for the connector's sandbox

    # -- to provide -----------------------------------------------------------------------------
    def start_sandbox(self) -> Any:
        """A started sandbox; by default the connector's own (``sandbox_class()``) on a free port."""
        sandbox = self.connector_class.sandbox_class()(**self.sandbox_options)
        sandbox.start()
        return sandbox

    def good_config(self, sandbox: Any) -> dict[str, Any]:
        raise NotImplementedError

    def bad_config(self, sandbox: Any) -> dict[str, Any] | None:
        return None

    def future_state(self, stream: str) -> dict[str, Any]:
        return {"cursor": "2999-01-01T00:00:00Z"}

    # -- plumbing -------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    def sandbox(self) -> Iterator[Any]:
        sandbox = self.start_sandbox()
        try:
            yield sandbox
        finally:
            sandbox.stop()

    def connector(self, config: dict[str, Any]) -> Connector:
        return self.connector_class(config, SyncContext(house=self.house))

    def secret_values(self, config: dict[str, Any]) -> list[str]:
        return [str(config[f]) for f in self.connector_class.secret_fields() if config.get(f)]

    def canonical(self, stream: str, pages: list[Page]) -> tuple[list[dict[str, Any]], list[Any]]:
        cls = self.connector_class
        spec = cls.stream(stream)
        processor = PageProcessor(load_mapping(cls.mappings_dir(), cls.name, stream),
                                  MappingContext(self.house, cls.name), spec.entity, spec.primary_key)
        import orjson

        records: list[dict[str, Any]] = []
        dead: list[Any] = []

        for page in pages:
            result = processor.process(page)
            records.extend(orjson.loads(r.data) for r in result.records)
            dead.extend(result.dead)
        return records, dead

    def first_stream(self) -> str:
        return self.connector_class.streams[0].name

    # -- the checks -----------------------------------------------------------------------------
    def test_spec_is_valid_json_schema_with_secrets_marked(self) -> None:
        cls = self.connector_class
        spec = cls.config_spec
        jsonschema.Draft202012Validator.check_schema(spec)
        assert spec.get("type") == "object"
        for name, prop in spec.get("properties", {}).items():
            lowered = name.lower()
            looks_secret = (any(w in lowered for w in ("secret", "password", "token", "api_key", "apikey"))
                            and not lowered.endswith(("_url", "_uri")))
            assert not looks_secret or prop.get("secret") is True, f"{name} looks like a secret but is not marked"
        assert cls.name and cls.version

    def test_streams_declare_entity_key_and_a_compiling_mapping(self) -> None:
        cls = self.connector_class
        assert cls.streams, "a connector declares at least one stream"
        for spec in cls.streams:
            assert spec.entity in ENTITIES, f"{spec.name}: entity {spec.entity!r}"
            assert spec.primary_key
            mapping = load_mapping(cls.mappings_dir(), cls.name, spec.name)
            assert mapping.entity == spec.entity, f"{spec.name}: mapping yields {mapping.entity}, stream {spec.entity}"

    def test_check_passes_with_good_credentials(self, sandbox: Any) -> None:
        connector = self.connector(self.good_config(sandbox))
        try:
            connector.check()
        finally:
            connector.close()

    def test_check_fails_clearly_with_bad_credentials(self, sandbox: Any) -> None:
        config = self.bad_config(sandbox)
        if config is None:
            pytest.skip("the vendor has no credentials to get wrong")
        connector = self.connector(config)
        try:
            with pytest.raises(AuthError) as caught:
                connector.check()
        finally:
            connector.close()
        message = str(caught.value)
        assert len(message) > 10
        for secret in self.secret_values(config) + self.secret_values(self.good_config(sandbox)):
            assert secret not in message, "the error echoes a secret"

    def test_every_stream_maps_to_valid_canonical_records(self, sandbox: Any) -> None:
        connector = self.connector(self.good_config(sandbox))
        try:
            for spec in self.connector_class.streams:
                raws, _, pages = read_stream(connector, spec.name)
                assert raws, f"{spec.name}: the sandbox served no records"
                records, dead = self.canonical(spec.name, pages)
                assert not dead, f"{spec.name}: sandbox data rejected: {[d.reason for d in dead[:3]]}"
                assert records and all(r["entity"] == spec.entity for r in records)
        finally:
            connector.close()

    def test_two_full_reads_give_identical_canonical_output(self, sandbox: Any) -> None:
        outputs = []
        for _ in range(2):
            connector = self.connector(self.good_config(sandbox))
            try:
                out = {}
                for spec in self.connector_class.streams:
                    _, _, pages = read_stream(connector, spec.name)
                    out[spec.name] = sorted(self.canonical(spec.name, pages)[0], key=lambda r: r["id"])
                outputs.append(out)
            finally:
                connector.close()
        assert outputs[0] == outputs[1]

    def test_incremental_read_returns_only_newer_changes(self) -> None:
        sandbox = self.start_sandbox()  # its own sandbox: this test changes vendor data
        try:
            connector = self.connector(self.good_config(sandbox))
            states = {}
            before: dict[str, set[str]] = {}
            for spec in self.connector_class.streams:
                raws, states[spec.name], _ = read_stream(connector, spec.name)
                before[spec.name] = {str(r.get(spec.primary_key)) for r in raws}
            time.sleep(1.1)  # vendors' change timestamps have one-second resolution
            changed = {str(i) for i in sandbox.mutate(3)}
            assert changed, "sandbox.mutate changed nothing"
            for spec in self.connector_class.streams:
                raws, _, _ = read_stream(connector, spec.name, states[spec.name])
                returned = {str(r.get(spec.primary_key)) for r in raws}
                if not self.incremental:
                    # No change filter: the window is read again; the store's hash keeps it cheap.
                    assert returned, f"{spec.name}: window re-read returned nothing"
                    continue
                assert returned, f"{spec.name}: the changes made after the saved state were not returned"
                assert len(returned) < max(len(before[spec.name]), 4), (
                    f"{spec.name}: incremental read returned {len(returned)} of {len(before[spec.name])} records")
                assert returned & changed, f"{spec.name}: none of the changed records came back"
            connector.close()
        finally:
            sandbox.stop()

    def test_state_from_the_future_returns_nothing(self, sandbox: Any) -> None:
        if not self.incremental:
            pytest.skip("window-based: there is no cursor to put in the future")
        connector = self.connector(self.good_config(sandbox))
        try:
            for spec in self.connector_class.streams:
                raws, _, _ = read_stream(connector, spec.name, self.future_state(spec.name))
                assert raws == [], f"{spec.name}: a future state returned {len(raws)} records"
        finally:
            connector.close()

    def test_429_with_retry_after_is_waited_out(self, sandbox: Any) -> None:
        if not self.http_faults:
            pytest.skip("transport faults are not injectable for this connector")
        connector = self.connector(self.good_config(sandbox))
        try:
            sandbox.inject(429, 1, retry_after=1)
            started = time.monotonic()
            raws, _, _ = read_stream(connector, self.first_stream())
            assert raws
            assert time.monotonic() - started >= 0.9, "Retry-After was not honoured"
        finally:
            connector.close()

    def test_5xx_is_retried(self, sandbox: Any) -> None:
        if not self.http_faults:
            pytest.skip("transport faults are not injectable for this connector")
        connector = self.connector(self.good_config(sandbox))
        try:
            sandbox.inject(503, 2)
            raws, _, _ = read_stream(connector, self.first_stream())
            assert raws
        finally:
            connector.close()

    @pytest.mark.parametrize("status", [401, 403])
    def test_401_403_fail_at_once_with_a_clear_message(self, sandbox: Any, status: int) -> None:
        if not self.http_faults:
            pytest.skip("transport faults are not injectable for this connector")
        connector = self.connector(self.good_config(sandbox))
        try:
            sandbox.inject(status, 3)
            started = time.monotonic()
            with pytest.raises(AuthError) as caught:
                read_stream(connector, self.first_stream())
            assert time.monotonic() - started < 5, "an auth failure was retried with backoff"
            assert str(status) in str(caught.value)
        finally:
            connector.close()
            getattr(sandbox, "clear_faults", lambda: None)()

    def _trusted_boundary(self, settings: dict[str, Any]) -> HouseBoundary:
        """Operator rules that admit the test's own locations (the boundary itself is tested elsewhere)."""
        properties = self.connector_class.config_spec.get("properties", {})
        buckets = {str(v) for k, v in settings.items() if (properties.get(k) or {}).get("x-s3") == "bucket"}
        return FleetBoundary(data_root="/", s3_buckets=frozenset(buckets), s3_prefix="").for_house(self.house)

    def test_no_secret_value_in_any_log_line(self, sandbox: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        config = self.good_config(sandbox)
        cls = self.connector_class
        secret_fields = cls.secret_fields()
        env = {}
        for field in secret_fields:
            var = f"PODIUM_{house_token(self.house).upper()}__{field.upper()}"
            monkeypatch.setenv(var, str(config[field]))
            env[field] = var
        settings = {k: v for k, v in config.items() if k not in secret_fields}
        house = HouseConfig(key=self.house, name="Conformance", kind="cultuurcentrum", timezone="Europe/Brussels",
                            connectors={cls.name: ConnectorConfig(cls.name, True, None, None, settings,
                                                                  {"env": env} if env else None)},
                            path=tmp_path / f"{self.house}.yaml", boundary=self._trusted_boundary(settings))
        store = Store(f"sqlite:///{tmp_path / 'conformance.db'}")
        store.migrate()
        caplog.set_level(logging.DEBUG)
        report = run_sync(house, cls.name, store=store, archive=Archive((tmp_path / "archive").as_uri()))
        assert report.status != "failed", report.as_dict()
        bad = self.bad_config(sandbox)
        if bad is not None:
            with pytest.raises(AuthError):
                broken = self.connector(bad)
                try:
                    broken.check()
                finally:
                    broken.close()
        secrets = self.secret_values(config) + (self.secret_values(bad) if bad else [])
        text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records) + str(report.as_dict())
        for secret in secrets:
            assert secret not in text, "a secret value reached a log line or the report"
        store.dispose()
