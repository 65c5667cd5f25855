"""Where a UWP data-product drop lands: an S3 bucket/prefix (boto3) or a local folder (the demo).

A source lists the drop's files (key, ETag, size) and opens one as a binary stream; nothing here
reads a whole file. Which file feeds which stream is decided by the file name (``FILE_PATTERNS``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from podium.errors import AuthError, BadDataError, ConfigError, RateLimitedError, VendorDownError
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

    def open(self, key: str) -> tuple[IO[bytes], str]: ...

    def close(self) -> None: ...


class FolderSource:
    """A local folder (searched recursively). The ETag is ``<size>-<mtime_ns>``: cheap, no hashing."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

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

    def open(self, key: str) -> tuple[IO[bytes], str]:
        path = self.folder / key
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise BadDataError(f"uwp: {key} disappeared from {self.folder} during the sync") from None
        stat = os.fstat(handle.fileno())
        return handle, f"{stat.st_size}-{stat.st_mtime_ns}"

    def close(self) -> None:
        return None


# S3 error codes -> what the operator does about them.
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
               "ExpiredToken", "InvalidClientTokenId", "AuthorizationHeaderMalformed", "403", "401"}
_CONFIG_CODES = {"NoSuchBucket", "InvalidBucketName", "PermanentRedirect", "301", "404"}
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "429"}


def s3_error(exc: Exception, where: str) -> Exception:
    """Translate a botocore error into the operator-facing error classes (secrets masked)."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError):
        return AuthError(f"uwp: no S3 credentials for {where} (set access_key_id/secret_access_key)")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return VendorDownError(redact(f"uwp: S3 endpoint did not answer for {where}: {exc}"))
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = redact(f"{code or status}: {error.get('Message') or 'no message'}")
        if code in _AUTH_CODES or status in (401, 403):
            return AuthError(f"uwp: S3 refused the credentials for {where} ({message})")
        if code in _CONFIG_CODES or (status == 404 and code != "NoSuchKey"):
            return ConfigError(f"uwp: {where} not found ({message}); check bucket, prefix and region")
        if code in _THROTTLE_CODES or status == 429:
            return RateLimitedError(f"uwp: S3 kept throttling {where} after retries ({message})")
        if status >= 500:
            return VendorDownError(f"uwp: S3 answered {status} for {where} after retries ({message})")
        return BadDataError(f"uwp: S3 error for {where} ({message})")
    return exc


class S3Source:
    """A bucket/prefix read with boto3; retries (5xx, throttling) are botocore's standard mode."""

    list_page_size = 1000

    def __init__(self, config: dict[str, Any]) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = str(config["bucket"])
        self.prefix = str(config.get("prefix") or "")
        session = boto3.session.Session(
            aws_access_key_id=config.get("access_key_id") or None,
            aws_secret_access_key=config.get("secret_access_key") or None,
            region_name=config.get("region") or "eu-west-1",
        )
        endpoint = config.get("endpoint_url") or None
        self.client = session.client("s3", endpoint_url=endpoint, config=Config(
            # S3-compatible stores (MinIO, Ceph, moto) address buckets by path; AWS itself by host.
            s3={"addressing_style": "path" if endpoint else "auto"},
            retries={"mode": "standard", "max_attempts": int(config.get("max_attempts") or 5)},
            connect_timeout=10, read_timeout=60, user_agent_extra="podium-hub-uwp",
        ))

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def check(self) -> None:
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except Exception as exc:
            raise s3_error(exc, self.where) from None

    def list(self) -> list[DropFile]:
        found = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix,
                                           PaginationConfig={"PageSize": self.list_page_size}):
                for item in page.get("Contents", []):
                    found.append(DropFile(item["Key"], str(item.get("ETag", "")).strip('"'),
                                          int(item.get("Size", 0)), item["LastModified"].timestamp()))
        except Exception as exc:
            raise s3_error(exc, self.where) from None
        return sorted(found, key=lambda f: f.key)

    def open(self, key: str) -> tuple[IO[bytes], str]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise s3_error(exc, f"s3://{self.bucket}/{key}") from None
        return response["Body"], str(response.get("ETag", "")).strip('"')

    def close(self) -> None:
        self.client.close()


def iter_matching(files: list[DropFile], patterns: tuple[str, ...]) -> Iterator[DropFile]:
    """The listed files whose base name matches ``patterns``, in key order."""
    return (f for f in files if matches(f.key, patterns))
