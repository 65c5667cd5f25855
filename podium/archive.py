"""The raw archive: every page any connector reads is stored as served (gzip), so an operator can
see exactly what the vendor sent and replay it — except registered secrets (an API key echoed in a
next-page link, a token in the body), which are masked before anything is written.

Layout: ``{house}/{connector}/{stream}/{YYYY-MM-DD}/{run}/{seq:05d}.{suffix}.gz`` in a local folder
(default ``var/archive``) or an S3 bucket (``PODIUM_ARCHIVE_URL=s3://bucket/prefix``, endpoint from
``PODIUM_ARCHIVE_S3_ENDPOINT`` for S3-compatible stores). Retention: ``PODIUM_ARCHIVE_RETENTION_DAYS``
(default 90), applied by ``prune``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from isal import igzip

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


class Archive:
    """Write-once store of raw pages."""

    def __init__(self, url: str | None = None, *, retention_days: int | None = None,
                 s3_client: Any = None) -> None:
        self.url = url or os.environ.get("PODIUM_ARCHIVE_URL") or (var_dir() / "archive").as_uri()
        self.retention_days = retention_days if retention_days is not None else int(
            os.environ.get("PODIUM_ARCHIVE_RETENTION_DAYS", "90"))
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
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
        # ISA-L's deflate at its level 1: a quarter of zlib level 1's time, and smaller (5% under zlib's level 1,
        # 20% over level 5) on vendor JSON. Its output is plain gzip: any gzip reader reads it, and ``get``
        # reads the pages of any gzip writer (older archives: zlib level 5, then level 1).
        body = igzip.compress(redact_bytes(data), compresslevel=1, mtime=0)
        if self.scheme == "file":
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)
            return path.as_uri()
        full = f"{self.prefix}/{key}" if self.prefix else key
        self.s3.put_object(Bucket=self.bucket, Key=full, Body=body, ContentEncoding="gzip")
        return f"s3://{self.bucket}/{full}"

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
