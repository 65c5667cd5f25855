"""UiTwisselingsplatform (UWP) data-product CSV drops: activiteiten, participanten, deelnames.

A UWP data product (cultuurnet/uwp-demo-dataproduct) exports OSLO Cultuurparticipatie entities as
CSV files (``<type>_results.csv``) that land in an S3 bucket/prefix, or a local folder for the demo.
Each sync lists the files, skips those whose key + ETag it already read, and streams the others
row by row (never a whole file in memory) in pages of ``chunk_rows`` rows. The ``*_modifieddate``
column is a high-water mark: a row not modified after the cursor is skipped, as the upstream
transformer's ``compare_input_date_with_latest_date`` does.

Stream state::

    {"files": {key: etag},            # files read to the end
     "cursor": ISO date-time,         # high-water mark every row is compared with during this sync
     "high_water": ISO date-time,     # the largest modifieddate seen so far in this sync
     "current": {key, etag, row},     # resume point inside a file (rows already decoded)
     "lookups": {key: etag}}          # activiteiten only: the reference tables joined in

The cursor only moves (to ``high_water``) on the last page of a sync, so a sync killed halfway
never skips the rows of a file it had not reached yet.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import IO, Any, ClassVar

from tenacity import Retrying

from connectors.uwp.streams import (
    FILE_PATTERNS,
    LOOKUP_PATTERNS,
    DropFile,
    DropSource,
    FolderSource,
    S3Source,
    iter_matching,
)
from podium.errors import BadDataError, ConfigError
from podium.parsing import CsvRecords, RecordError
from podium.sdk.connector import Connector, Page, StreamSpec, SyncContext
from podium.sdk.retry import retrying

log = logging.getLogger("podium.connectors.uwp")

# Lookup name -> (column of the lookup row holding the id, activiteit column referencing it, one or many)
JOINS: dict[str, tuple[str, str, bool]] = {
    "locatie": ("location_id", "activiteit_location_id", False),
    "organisator": ("organisator_id", "activiteit_organizer_id", False),
    "uitvoerder": ("uitvoerder_id", "activiteit_performer_id", False),
    "prijsinfo": ("prijs_activiteitId", "activiteit_id", True),
    "beschikbaarheid": ("beschikbaarheid_activiteit_id", "activiteit_id", True),
}


class UwpConnector(Connector):
    """CSV drops of a UWP data product (OSLO Cultuurparticipatie) in S3 or a local folder."""

    name = "uwp"
    sandbox = "connectors.uwp.sandbox:UwpSandbox"
    version = "0.1.0"
    title = "UiTwisselingsplatform data product (CSV drop, OSLO Cultuurparticipatie)"
    requests_per_second = 20.0

    # Orchestration (see podium.sdk.Connector).
    auth_kind = "s3"
    default_schedule = "45 */3 * * *"
    pool_slots = 4
    default_owner = "podium-publication"
    example_share = {"cultuurcentrum": 0.4, "gemeenschapscentrum": 0.5, "kunstenorganisatie": 0.2}

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        return {"bucket": "uwp-dataproduct", "prefix": f"{house}/", "region": "eu-west-1"}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        sandbox = cls.sandbox_class()
        return {"login": sandbox.access_key_id, "password": sandbox.secret_access_key}

    @classmethod
    def prepare_demo_sandbox(cls, sandbox: Any) -> None:
        sandbox.seed_drop("uwp-drops", "de-singel/")  # the example house de-singel reads its drop there
    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "bucket": {"type": "string", "minLength": 3, "x-s3": "bucket",
                       "description": "S3 bucket the data product drops into; one the operator allows"},
            "prefix": {"type": "string", "default": "", "x-s3": "prefix",
                       "description": "key prefix of the drop; starts with the house's own prefix ('<house>/')"},
            "region": {"type": "string", "default": "eu-west-1"},
            "endpoint_url": {"type": "string", "format": "uri",
                             "description": "S3-compatible store (MinIO, Ceph…); empty for AWS"},
            "access_key_id": {"type": "string", "secret": True, "x-connection-field": "login"},
            "secret_access_key": {"type": "string", "secret": True, "x-connection-field": "password"},
            "folder": {"type": "string", "format": "local-path",
                       "description": "a local folder instead of S3 (demo, tests), under the house's data root"},
            "chunk_rows": {"type": "integer", "minimum": 1, "default": 5000,
                           "description": "rows per page: a killed sync resumes at the last page"},
            "max_attempts": {"type": "integer", "minimum": 1, "default": 5},
        },
        "oneOf": [{"required": ["bucket"], "not": {"required": ["folder"]}},
                  {"required": ["folder"], "not": {"required": ["bucket"]}}],
    }
    streams = (
        StreamSpec("activiteiten", "event", "activiteit_id", CsvRecords(), "activiteit_modifieddate",
                   "activiteit_results*.csv joined with locatie, organisator, uitvoerder, prijsinfo, beschikbaarheid"),
        StreamSpec("participanten", "contact", "participant_id", CsvRecords(), "participant_modifieddate",
                   "participant_results*.csv: pseudonymous (birth year, statistical sector)"),
        StreamSpec("deelnames", "ticket", "deelname_id", CsvRecords(), "deelname_modifieddate",
                   "deelname_results*.csv: one participation in one activity"),
    )

    def __init__(self, config: Mapping[str, Any], context: SyncContext) -> None:
        super().__init__(config, context)
        if bool(self.config.get("bucket")) == bool(self.config.get("folder")):
            raise ConfigError("uwp: set either 'bucket' (S3) or 'folder' (local), not both or neither")
        chunk = self.config.get("chunk_rows") or 5000
        if not isinstance(chunk, int) or chunk < 1:
            raise ConfigError(f"uwp: chunk_rows must be a positive integer, got {chunk!r}")
        self.chunk_rows = chunk
        self._source: DropSource | None = None


    def retry_policy(self) -> Retrying:
        """The SDK's retry factory with the house's ``max_attempts``."""
        return retrying(max_attempts=int(self.config.get("max_attempts") or 5))

    @property
    def source(self) -> DropSource:
        if self._source is None:
            boundary = self.context.boundary
            if self.config.get("folder"):
                folder = self.config["folder"]
                if boundary is not None:
                    folder = boundary.local_path(folder, key=f"connectors.{self.name}.settings.folder")
                self._source = FolderSource(folder, boundary)
            else:
                if boundary is not None:
                    boundary.check_s3(str(self.config["bucket"]), str(self.config.get("prefix") or ""),
                                      key=f"connectors.{self.name}.settings.prefix")
                self._source = S3Source(self.config, timeouts=self.timeouts, retry=self.retry_policy)
        return self._source

    def check(self) -> None:
        """List the bucket/prefix (or folder): proves the endpoint, bucket and credentials."""
        self.source.check()

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    # -- reading -------------------------------------------------------------------------------
    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        """Pages of rows from the files that are new or changed since ``state``."""
        spec = self.stream(stream)
        old = dict(state or {})
        files = self.source.list()
        listed = {f.key for f in files}
        done: dict[str, str] = {k: v for k, v in dict(old.get("files") or {}).items() if k in listed}
        cursor_text: str | None = old.get("cursor")
        high: str | None = old.get("high_water") or cursor_text
        current: dict[str, Any] | None = old.get("current")
        joins: dict[str, dict[str, Any]] = {}
        lookup_etags: dict[str, str] | None = None
        lookup_errors: list[tuple[str, Any]] = []
        if stream == "activiteiten":
            joins, lookup_etags, lookup_errors = self._load_lookups(files)
            if "lookups" in old and old["lookups"] != lookup_etags:
                # A venue or price changed: every activity it enriches must be emitted again.
                log.info("uwp: reference tables changed since the last sync; re-reading all activiteiten")
                done, cursor_text, high, current = {}, None, None, None

        base: dict[str, Any] = {"files": done, "cursor": cursor_text}
        if lookup_etags is not None:
            base["lookups"] = lookup_etags
        cursor = _parse_time(cursor_text, self.context) if cursor_text else None
        tracker = {"high": high}

        def pages() -> Iterator[Page]:
            pending_errors = list(lookup_errors)
            for drop in iter_matching(files, FILE_PATTERNS[stream]):
                if done.get(drop.key) == drop.etag:
                    continue
                for page in self._read_file(spec, drop, current, cursor, base, tracker, joins):
                    if pending_errors:
                        page.errors[:0] = pending_errors
                        pending_errors = []
                    yield page
            if pending_errors:
                yield Page([], {**base, "high_water": tracker["high"]}, errors=pending_errors,
                           label="reference tables")

        last: Page | None = None
        for page in pages():
            if last is not None:
                yield last
            last = page
        final = {k: v for k, v in base.items() if v is not None}
        final["files"] = dict(done)
        if tracker["high"] is not None:
            final["cursor"] = tracker["high"]
        if last is not None:
            last.state = final
            yield last
        elif final != {k: v for k, v in old.items() if k not in ("high_water", "current")}:
            yield Page([], final, label="state only: files removed or reference tables changed")

    def _read_file(self, spec: StreamSpec, drop: DropFile, current: Mapping[str, Any] | None,
                   cursor: datetime | None, base: dict[str, Any], tracker: dict[str, Any],
                   joins: dict[str, dict[str, Any]]) -> Iterator[Page]:
        """Pages of one file; ``base['files']`` gets the file's ETag once its last row is read."""
        try:
            handle, etag = self.source.open(drop.key, drop)
        except BadDataError as exc:  # gone since the listing: the next sync prunes it
            yield Page([], {**base, "files": dict(base["files"]), "high_water": tracker["high"]},
                       errors=[(str(exc), None)], label=f"{drop.key} (gone)")
            return
        resume = 0
        if current and current.get("key") == drop.key and current.get("etag") == etag:
            resume = int(current.get("row") or 0)
        decoder = replace(spec.decoder) if isinstance(spec.decoder, CsvRecords) else CsvRecords()
        records: list[dict[str, Any]] = []
        raw_rows: list[dict[str, Any]] = []
        errors: list[tuple[str, Any]] = []
        first, position = resume, 0
        warned = False

        def page(final: bool) -> Page:
            state: dict[str, Any] = {**base, "files": dict(base["files"]), "high_water": tracker["high"]}
            if final:
                base["files"][drop.key] = etag
                state["files"][drop.key] = etag
            else:
                state["current"] = {"key": drop.key, "etag": etag, "row": position}
            label = f"{drop.key} rows {first + 1}-{position} ({decoder.detected_encoding or 'empty'})"
            return Page(records, {k: v for k, v in state.items() if v is not None}, _serialize(raw_rows),
                        "csv", label, errors)

        try:
            with _closing(handle):
                for item in decoder.decode(handle):
                    position += 1
                    if not warned and decoder.detected_encoding not in (None, "utf-8"):
                        log.warning("uwp: %s is not plain UTF-8 (%s); decoded as %s", drop.key,
                                    "UTF-8 with a BOM" if decoder.detected_encoding == "utf-8-sig"
                                    else decoder.detected_encoding, decoder.detected_encoding)
                        warned = True
                    if position <= resume:
                        continue
                    if isinstance(item, RecordError):
                        errors.append((f"{drop.key} {item.reason}", item.raw))
                    elif self._wanted(item, spec.cursor or "", cursor, tracker):
                        raw_rows.append(item)
                        records.append(_enrich(item, joins) if joins else item)
                    if position - first >= self.chunk_rows:
                        yield page(False)
                        records, raw_rows, errors, first = [], [], [], position
        except BadDataError as exc:
            # A file that cannot be decoded any further is a dead letter, not a failed sync: the rows
            # before the fault are kept and the file is not read again until it changes.
            errors.append((f"{drop.key}: {exc}", None))
            log.warning("uwp: %s: %s", drop.key, exc)
        yield page(True)

    def _wanted(self, row: dict[str, Any], column: str, cursor: datetime | None,
                tracker: dict[str, Any]) -> bool:
        """Track the high-water mark; False for a row not modified after the cursor."""
        moment = _try_time(row.get(column) or "", self.context)
        if moment is None:
            return True  # no or unreadable date: keep it, the mapping reports what is wrong
        high = tracker.get("high_dt")
        if high is None and tracker["high"] is not None:
            high = tracker["high_dt"] = _parse_time(tracker["high"], self.context)
        if high is None or moment > high:
            tracker["high_dt"], tracker["high"] = moment, _iso(moment)
        return cursor is None or moment > cursor

    def _load_lookups(self, files: list[DropFile]
                      ) -> tuple[dict[str, dict[str, Any]], dict[str, str], list[tuple[str, Any]]]:
        """The reference tables as ``{name: {id: row or [rows]}}``, their ETags, and their dead letters."""
        joins: dict[str, dict[str, Any]] = {}
        etags: dict[str, str] = {}
        errors: list[tuple[str, Any]] = []
        for name, patterns in LOOKUP_PATTERNS.items():
            id_column, _, many = JOINS[name]
            table: dict[str, Any] = {}
            # Oldest first, so that the newest drop of a table wins on a duplicate id.
            for drop in sorted(iter_matching(files, patterns), key=lambda f: (f.modified, f.key)):
                handle, etag = self.source.open(drop.key, drop)
                etags[drop.key] = etag
                decoder = CsvRecords()
                try:
                    with _closing(handle):
                        for item in decoder.decode(handle):
                            if isinstance(item, RecordError):
                                errors.append((f"{drop.key} {item.reason}", item.raw))
                                continue
                            key = (item.get(id_column) or "").strip()
                            if not key:
                                errors.append((f"{drop.key}: row without {id_column}", item))
                            elif many:
                                table.setdefault(key, []).append(item)
                            else:
                                table[key] = item
                except BadDataError as exc:
                    errors.append((f"{drop.key}: {exc}", None))
            joins[name] = table
        return joins, etags, errors


def _enrich(row: dict[str, Any], joins: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The activity row with its reference rows nested under the lookup's name (by id)."""
    enriched = dict(row)
    for name, (_, column, _) in JOINS.items():
        found = joins.get(name, {}).get((row.get(column) or "").strip())
        if found:
            enriched[name] = found
    return enriched


def _serialize(rows: list[dict[str, Any]]) -> bytes | None:
    """The chunk's rows as UTF-8 CSV (header + rows): bounded by the chunk, replayable by CsvRecords."""
    if not rows:
        return None
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows[0].keys())
    writer.writerows(map(dict.values, rows))  # decoded rows keep the header's order
    return buffer.getvalue().encode("utf-8")


def _parse_time(text: str, context: SyncContext) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=context.timezone)


def _try_time(text: str, context: SyncContext) -> datetime | None:
    """A row's modified time; None when empty or unreadable (the mapping then reports it)."""
    if not text:
        return None
    try:
        return _parse_time(text, context)
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).isoformat(timespec="microseconds" if moment.microsecond else "seconds"
                                            ).replace("+00:00", "Z")


class _closing:
    """Close a file or S3 body after use (StreamingBody has close() but is no context manager)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def __enter__(self) -> IO[bytes]:
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
