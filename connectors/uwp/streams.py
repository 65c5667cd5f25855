"""Where a UWP data-product drop lands: an S3 bucket/prefix (boto3) or a local folder (the demo).

A source lists the drop's files (key, ETag, size) and opens one as a binary stream; nothing here
reads a whole file. Which file feeds which stream is decided by the file name (``FILE_PATTERNS``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

from tenacity import Retrying

from podium.boundary import HouseBoundary
from podium.errors import AuthError, BadDataError, ConfigError, VendorDownError
from podium.sdk.error_table import is_transport_fault, rule_for
from podium.sdk.retry import RetryableError, broken_transfer, judged, parse_retry_after, retrying
from podium.secrets import redact

# Stream -> file-name patterns (base name, case-insensitive). The names are the data product's own
# (transformer/input-data/<type>_results.csv); a dated or split drop (activiteit_results_2024-10.csv)
# matches too.
FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "activiteiten": ("activiteit_results*.csv",),
    "participanten": ("participant_results*.csv",),
    "deelnames": ("deelname_results*.csv",),
}
# Reference tables joined into activiteiten (small; loaded into memory once per sync).
LOOKUP_PATTERNS: dict[str, tuple[str, ...]] = {
    "locatie": ("locatie_results*.csv",),
    "organisator": ("organisator_results*.csv",),
    "uitvoerder": ("uitvoerder_results*.csv",),
    # the upstream YARRRML still names the older file prijsinfo_mapping.csv
    "prijsinfo": ("activiteit_prijsinfo_mapping*.csv", "prijsinfo_mapping*.csv"),
    "beschikbaarheid": ("activiteit_beschikbaarheid_mapping*.csv",),
}


def matches(key: str, patterns: tuple[str, ...]) -> bool:
    """Whether the base name of ``key`` matches one of ``patterns``."""
    base = key.rsplit("/", 1)[-1].lower()
    return any(fnmatch.fnmatchcase(base, pattern) for pattern in patterns)


@dataclass(frozen=True)
class DropFile:
    """One listed file: its key, version tag and size; ``modified`` orders lookup files."""

    key: str
    etag: str
    size: int
    modified: float


class DropSource(Protocol):
    """A place files land in."""

    def check(self) -> None: ...

    def list(self) -> list[DropFile]: ...

    def open(self, key: str, listed: DropFile | None = None) -> tuple[IO[bytes], str]: ...

    def close(self) -> None: ...


class FolderSource:
    """A local folder (searched recursively). The ETag is ``<size>-<mtime_ns>``: cheap, no hashing."""

    def __init__(self, folder: str | os.PathLike[str], boundary: HouseBoundary | None = None) -> None:
        self.folder = Path(folder)
        self.boundary = boundary

    def check(self) -> None:
        if not self.folder.is_dir():
            raise ConfigError(f"uwp: folder '{self.folder}' does not exist or is not a folder")

    def list(self) -> list[DropFile]:
        self.check()
        found = []
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                found.append(DropFile(path.relative_to(self.folder).as_posix(),
                                      f"{stat.st_size}-{stat.st_mtime_ns}", stat.st_size, stat.st_mtime))
        return found

    def open(self, key: str, listed: DropFile | None = None) -> tuple[IO[bytes], str]:
        path = self.folder / key
        if self.boundary is not None:  # a symlink in the drop must not lead out of the house's folder
            path = self.boundary.local_path(path, key="connectors.uwp.settings.folder")
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise BadDataError(f"uwp: {key} disappeared from {self.folder} during the sync") from None
        stat = os.fstat(handle.fileno())
        return handle, f"{stat.st_size}-{stat.st_mtime_ns}"

    def close(self) -> None:
        return None


_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
               "ExpiredToken", "InvalidClientTokenId", "AuthorizationHeaderMalformed"}
_CONFIG_CODES = {"NoSuchBucket", "InvalidBucketName", "PermanentRedirect"}


def s3_failure(exc: Exception, where: str) -> Exception:
    """What a botocore error means, decided by the SDK's one error table (secrets masked).

    Transient answers come back as ``RetryableError`` (with ``Retry-After`` when S3 sends one) for
    the retry factory; everything else as the operator-facing error to raise.
    """
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError):
        return AuthError(f"uwp: no S3 credentials for {where} (set access_key_id/secret_access_key)")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError):
        down = VendorDownError(redact(f"uwp: the S3 endpoint did not answer for {where}: {exc}"))
        return RetryableError(str(down), down)
    if is_transport_fault(exc):  # a body cut short or a stalled read: the one error table says transient
        return broken_transfer(exc, f"uwp: {where}")
    if not isinstance(exc, ClientError):
        return exc
    meta = exc.response.get("ResponseMetadata", {})
    error = exc.response.get("Error", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    code = str(error.get("Code") or status)
    detail = redact(f"HTTP {status} {code}: {error.get('Message') or 'no message'}")
    if code == "NoSuchKey":
        return BadDataError(f"uwp: {where} disappeared during the sync ({detail})")
    if code == "PreconditionFailed":
        return BadDataError(f"uwp: {where} changed while it was read ({detail})")
    if code in _AUTH_CODES and code != "AccessDenied":
        return AuthError(f"uwp: S3 refused the credentials for {where} ({detail})")
    if code in _CONFIG_CODES:
        return ConfigError(f"uwp: {where} not found ({detail}); check bucket, prefix and region")
    rule = rule_for(status)
    final_class = rule.error or BadDataError
    final = final_class(f"uwp: {rule.message or 'S3 error'} for {where} ({detail})")
    headers = meta.get("HTTPHeaders") or {}
    return judged(rule, final, parse_retry_after(headers.get("retry-after")))


class S3Source:
    """A bucket/prefix read with boto3. Retries are the SDK's (``podium.sdk.retry``), not botocore's,
    so S3 follows the same error table and honours ``Retry-After`` like every other vendor."""

    list_page_size = 1000

    def __init__(self, config: dict[str, Any], *, timeouts: tuple[float, float] = (5.0, 30.0),
                 retry: Callable[[], Retrying] | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = str(config["bucket"])
        self.prefix = str(config.get("prefix") or "")
        self.max_attempts = int(config.get("max_attempts") or 5)
        self.retry = retry or partial(retrying, max_attempts=self.max_attempts)
        session = boto3.session.Session(
            aws_access_key_id=config.get("access_key_id") or None,
            aws_secret_access_key=config.get("secret_access_key") or None,
            region_name=config.get("region") or "eu-west-1",
        )
        endpoint = config.get("endpoint_url") or None
        self.client = session.client("s3", endpoint_url=endpoint, config=Config(
            # S3-compatible stores (MinIO, Ceph, moto) address buckets by path; AWS itself by host.
            s3={"addressing_style": "path" if endpoint else "auto"},
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=timeouts[0], read_timeout=timeouts[1], user_agent_extra="podium-hub-uwp",
        ))

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _call(self, where: str, operation: Callable[[], Any]) -> Any:
        def attempt() -> Any:
            try:
                return operation()
            except Exception as exc:
                raise s3_failure(exc, where) from None

        return self.retry()(attempt)

    def check(self) -> None:
        self._call(self.where, lambda: self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1))

    def list(self) -> list[DropFile]:
        found = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": self.list_page_size}
            if token:
                args["ContinuationToken"] = token
            page = self._call(self.where, partial(self.client.list_objects_v2, **args))
            for item in page.get("Contents", []):
                found.append(DropFile(item["Key"], str(item.get("ETag", "")).strip('"'),
                                      int(item.get("Size", 0)), item["LastModified"].timestamp()))
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                break
            if token == args.get("ContinuationToken"):
                raise BadDataError(f"uwp: S3 listing of {self.where} repeats its continuation token")
        return sorted(found, key=lambda f: f.key)

    def open(self, key: str, listed: DropFile | None = None) -> tuple[IO[bytes], str]:
        """The object as a stream that survives a broken transfer; ``listed`` gives the size to expect."""
        where = f"s3://{self.bucket}/{key}"
        response = self._call(where, lambda: self.client.get_object(Bucket=self.bucket, Key=key))
        etag = str(response.get("ETag", "")).strip('"')
        size = int(response.get("ContentLength") or 0)
        if listed is not None and listed.etag == etag:
            size = listed.size  # a body cut short can carry a matching (short) Content-Length
        return io.BufferedReader(_ResumableBody(self, key, etag, response["Body"], size)), etag

    def get_range(self, key: str, etag: str, start: int) -> Any:
        """The rest of an object from byte ``start``, only while it is still the version ``etag``."""
        return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-", IfMatch=etag)["Body"]

    def close(self) -> None:
        self.client.close()


class _ResumableBody(io.RawIOBase):
    """An S3 object body that, when the transfer breaks or ends short of the object's size, asks for
    the rest (a Range request pinned to the ETag) through the retry factory. The CSV decoder reading
    it never sees the fault, and no row is read twice or skipped."""

    def __init__(self, source: S3Source, key: str, etag: str, body: Any, size: int) -> None:
        super().__init__()
        self.source, self.key, self.etag, self.size = source, key, etag, size
        self.where = f"s3://{source.bucket}/{key}"
        self._body: Any = body
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._offset >= self.size:
            return 0
        chunk: bytes = self.source.retry()(self._read, len(buffer))
        buffer[:len(chunk)] = chunk
        self._offset += len(chunk)
        return len(chunk)

    def _read(self, wanted: int) -> bytes:
        try:
            if self._body is None:
                self._body = self.source.get_range(self.key, self.etag, self._offset)
            chunk: bytes = self._body.read(min(wanted, self.size - self._offset))
        except Exception as exc:
            self._drop()
            raise s3_failure(exc, self.where) from None
        if not chunk:
            self._drop()
            down = VendorDownError(f"uwp: {self.where} ended at byte {self._offset} of {self.size}")
            raise RetryableError(str(down), down)
        return chunk

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail again
                body.close()

    def close(self) -> None:
        self._drop()
        super().close()


def iter_matching(files: list[DropFile], patterns: tuple[str, ...]) -> Iterator[DropFile]:
    """The listed files whose base name matches ``patterns``, in key order."""
    return (f for f in files if matches(f.key, patterns))
