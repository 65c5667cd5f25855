"""The raw archive: every page any connector reads is stored as served (gzip), so an operator can
see exactly what the vendor sent and replay it — except registered secrets (an API key echoed in a
next-page link, a token in the body), which are masked before anything is written.

Layout: ``{house}/{connector}/{stream}/{YYYY-MM-DD}/{run}/{seq:05d}.{suffix}.gz`` in a local folder
(default ``var/archive``) or an S3 bucket (``PODIUM_ARCHIVE_URL=s3://bucket/prefix``, endpoint from
``PODIUM_ARCHIVE_S3_ENDPOINT`` for S3-compatible stores). Retention: ``PODIUM_ARCHIVE_RETENTION_DAYS``
(default 90), applied by ``prune``.

In a local folder, a page that a run reads exactly as the stream's latest earlier run read it at the same
place (a full re-read where nothing changed) is a hard link to that earlier file: one file under both
names, nothing compressed or written again. Pages are never changed in place (a page is written aside,
then renamed), so no name sees another's page change; pruning the older day leaves the newer name whole.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from isal import igzip, isal_zlib

from podium import clock
from podium.errors import ConfigError
from podium.paths import var_dir
from podium.secrets import redact_bytes


@dataclass(frozen=True)
class ArchivedPage:
    """One archived page of a stream: where it is and its place (day, run, sequence in the run)."""

    uri: str
    day: str
    run_id: str
    seq: int
    suffix: str


def _archived(uri: str, relative: str) -> ArchivedPage | None:
    """The page named by ``relative`` (``{day}/{run}/{seq}.{suffix}.gz``), or None for anything else."""
    parts = relative.split("/")
    if len(parts) != 3 or not parts[2].endswith(".gz"):
        return None
    day, run_id, name = parts
    seq_text, _, suffix = name.removesuffix(".gz").partition(".")
    try:
        date.fromisoformat(day)
        seq = int(seq_text)
    except ValueError:
        return None
    return ArchivedPage(uri=uri, day=day, run_id=run_id, seq=seq, suffix=suffix)


def _compressed(page: bytes) -> bytes:
    """``page`` as gzip, by ISA-L's deflate at its level 1: a quarter of zlib level 1's time, and smaller (5%
    under zlib's level 1, 20% over level 5) on vendor JSON. Plain gzip: any gzip reader reads it, and ``get``
    reads the pages of any gzip writer (older archives: zlib level 5, then level 1)."""
    return igzip.compress(page, compresslevel=1, mtime=0)


def _holds(archived: Path, page: bytes) -> bool:
    """Whether the archived file ``archived`` is ``page``, compressed. Its gzip trailer (CRC-32 and length
    of the content) turns a different page down without decompressing; a match is then confirmed byte
    for byte, so a link never stands for a page that was not served."""
    try:
        body = archived.read_bytes()
    except OSError:
        return False
    if len(body) < 18 or body[-8:] != struct.pack("<II", isal_zlib.crc32(page), len(page) & 0xFFFFFFFF):
        return False
    try:
        return isal_zlib.decompress(body, wbits=31) == page  # one gzip member (as written): its fast path
    except (OSError, EOFError, ValueError):  # a damaged earlier page: this one is written anew
        return False


def _linked(earlier: Path, tmp: Path) -> bool:
    """A hard link to ``earlier`` at ``tmp``; False where the filesystem has none (the page is written)."""
    try:
        os.link(earlier, tmp)
    except OSError:
        return False
    return True


class _EarlierRuns:
    """The run folders of a stream before ``run_dir`` (its day's and earlier days'), newest first, read
    lazily; pages are asked for in sequence order, so a run that lacks one lacks the next ones too."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._runs = self._newest_first()
        self._current: Path | None = next(self._runs, None)

    def _newest_first(self) -> Iterator[Path]:
        stream_dir, today = self.run_dir.parent.parent, self.run_dir.parent.name
        days = sorted((d for d in stream_dir.iterdir() if d.is_dir() and d.name <= today), reverse=True)
        for day in days:
            try:
                runs = [(r.stat().st_mtime, r) for r in day.iterdir() if r.is_dir() and r != self.run_dir]
            except OSError:
                continue
            yield from (run for _, run in sorted(runs, reverse=True))

    def page(self, name: str) -> Path | None:
        while self._current is not None:
            candidate = self._current / name
            if candidate.is_file():
                return candidate
            self._current = next(self._runs, None)
        return None


class Archive:
    """Write-once store of raw pages."""

    def __init__(self, url: str | None = None, *, retention_days: int | None = None,
                 s3_client: Any = None) -> None:
        self.url = url or os.environ.get("PODIUM_ARCHIVE_URL") or (var_dir() / "archive").as_uri()
        self.retention_days = retention_days if retention_days is not None else int(
            os.environ.get("PODIUM_ARCHIVE_RETENTION_DAYS", "90"))
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        self._earlier_runs: dict[Path, _EarlierRuns] = {}  # stream folder -> its current run's earlier runs
        if self.scheme == "file":
            self.root = Path(parts.path)
        elif self.scheme == "s3":
            self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
            self._s3 = s3_client
        elif self.scheme == "none":
            pass
        else:
            raise ConfigError(f"PODIUM_ARCHIVE_URL: unsupported scheme '{self.scheme}' (file, s3, none)")

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=os.environ.get("PODIUM_ARCHIVE_S3_ENDPOINT") or None)
        return self._s3

    @property
    def enabled(self) -> bool:
        return self.scheme != "none"

    @staticmethod
    def key(house: str, connector: str, stream: str, run_id: str, seq: int, suffix: str,
            day: date | None = None) -> str:
        day = day or clock.today(UTC)
        return f"{house}/{connector}/{stream}/{day.isoformat()}/{run_id}/{seq:05d}.{suffix}.gz"

    def put(self, house: str, connector: str, stream: str, run_id: str, seq: int, suffix: str,
            data: bytes) -> str | None:
        """Store one raw page; returns its URI (None when archiving is off)."""
        if not self.enabled:
            return None
        key = self.key(house, connector, stream, run_id, seq, suffix)
        page = redact_bytes(data)
        if self.scheme == "file":
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            earlier = self._earlier_page(path, seq, suffix)
            if earlier is None or not _holds(earlier, page) or not _linked(earlier, tmp):
                tmp.write_bytes(_compressed(page))
            tmp.replace(path)
            return path.as_uri()
        full = f"{self.prefix}/{key}" if self.prefix else key
        self.s3.put_object(Bucket=self.bucket, Key=full, Body=_compressed(page), ContentEncoding="gzip")
        return f"s3://{self.bucket}/{full}"

    def _earlier_page(self, path: Path, seq: int, suffix: str) -> Path | None:
        """The same place (sequence number) in the latest earlier run of the stream that read that far.

        A full re-read of a stream where nothing changed serves the very pages its last full read served,
        in the same order: such a page is linked to the earlier file (a hard link: no compression, no data
        written) once its content is found equal. Runs are taken newest first (by day, then by the time
        their folder last changed); a run without this page (an incremental run stops early) is passed.
        """
        run_dir = path.parent
        runs = self._earlier_runs.get(run_dir.parent.parent)
        if runs is None or runs.run_dir != run_dir:
            runs = self._earlier_runs[run_dir.parent.parent] = _EarlierRuns(run_dir)
        return runs.page(f"{seq:05d}.{suffix}.gz")

    def get(self, uri: str) -> bytes:
        """The raw bytes of an archived page."""
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return igzip.decompress(Path(parts.path).read_bytes())
        if parts.scheme == "s3":
            body = self.s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
            return igzip.decompress(body)
        raise ConfigError(f"cannot read archive URI {uri}")

    def pages(self, house: str, connector: str, stream: str) -> list[ArchivedPage]:
        """Every archived page of a stream, by day, run and sequence (run ids sort by name within a day:
        order runs by when they started with the store's runs, as ``podium remap`` does)."""
        found: list[ArchivedPage] = []
        prefix = f"{house}/{connector}/{stream}/"
        if self.scheme == "file":
            base = self.root / prefix
            for path in base.glob("*/*/*.gz") if base.is_dir() else ():
                page = _archived(path.as_uri(), path.relative_to(base).as_posix())
                if page is not None:
                    found.append(page)
        elif self.scheme == "s3":
            full = f"{self.prefix}/{prefix}" if self.prefix else prefix
            for listing in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for obj in listing.get("Contents", []):
                    page = _archived(f"s3://{self.bucket}/{obj['Key']}", obj["Key"][len(full):])
                    if page is not None:
                        found.append(page)
        return sorted(found, key=lambda p: (p.day, p.run_id, p.seq))

    def prune(self, today: date | None = None) -> int:
        """Delete archived pages older than the retention; returns how many day folders/objects went."""
        cutoff = (today or clock.today(UTC)) - timedelta(days=self.retention_days)
        removed = 0
        if self.scheme == "file":
            for day_dir in self.root.glob("*/*/*/*"):
                try:
                    day = date.fromisoformat(day_dir.name)
                except ValueError:
                    continue
                if day < cutoff:
                    shutil.rmtree(day_dir)
                    removed += 1
        elif self.scheme == "s3":
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                old = []
                for obj in page.get("Contents", []):
                    parts = obj["Key"].split("/")
                    day_part = parts[-3] if len(parts) >= 3 else ""
                    try:
                        if date.fromisoformat(day_part) < cutoff:
                            old.append({"Key": obj["Key"]})
                    except ValueError:
                        continue
                if old:
                    self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": old})
                    removed += len(old)
        return removed
