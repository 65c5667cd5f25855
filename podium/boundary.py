"""What one house may reach on the shared workers: its own credentials, files and S3 prefix only.

Houses edit their own configs, yet every house runs on the same workers. The operator draws the
line in ``houses/_fleet.yaml`` (environment variables override it):

- ``shared_credentials: {conn_ids: [...], env: [...]}`` — credential references any house may use;
  every other reference must live in the house's own namespace: connection id
  ``<connector>_<house>`` or ``<connector>_<house>__<suffix>``, environment variable
  ``PODIUM_<HOUSE>__<NAME>`` (house key upper-cased, ``-`` as ``_``). The double underscore keeps
  house ``cc`` out of house ``cc-hasselt``'s names.
- ``house_data_root`` (env ``PODIUM_HOUSE_DATA_ROOT``; default ``<var>/houses/{house}``) — local
  files a house reads; relative paths are taken from there; ``..``, symlinks leaving it and absolute
  paths elsewhere are refused.
- ``s3_buckets`` (default: none) and ``s3_prefix`` (default ``{house}/``) — the S3 drops a house reads.

The same rules run in ``podium check`` (``podium.config``), when credentials resolve
(``podium.secrets.resolve_credentials``) and where a connector opens a path or a prefix, so a
config that skipped the check still cannot read another house's data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from podium.errors import ConfigError

FLEET_FILE_NAME = "_fleet.yaml"
DEFAULT_DATA_ROOT = "{var}/houses/{house}"
DEFAULT_S3_PREFIX = "{house}/"


def house_token(house: str) -> str:
    """``cc-hasselt`` -> ``cc_hasselt``: the house key as it appears in connection ids."""
    return house.replace("-", "_")


@dataclass(frozen=True)
class HouseBoundary:
    """The operator's limits for one house; every refusal names the file, the key and the rule."""

    house: str
    config_file: str
    data_root: Path
    s3_buckets: frozenset[str] = frozenset()
    s3_prefix: str = ""
    shared_conn_ids: frozenset[str] = frozenset()
    shared_env: frozenset[str] = frozenset()
    rules_file: str = FLEET_FILE_NAME

    # -- credentials ------------------------------------------------------------------------------
    def own_conn_id(self, connector: str) -> str:
        return f"{connector}_{house_token(self.house)}"

    def env_prefix(self) -> str:
        return f"PODIUM_{house_token(self.house).upper()}__"

    def conn_id_refusal(self, connector: str, conn_id: str) -> str | None:
        """Why ``conn_id`` is out of bounds for this house's ``connector``, or None."""
        own = self.own_conn_id(connector)
        if conn_id == own or conn_id.startswith(own + "__") or conn_id in self.shared_conn_ids:
            return None
        return (f"connection id '{conn_id}' is outside house '{self.house}' — rule: use '{own}' "
                f"(or '{own}__<suffix>'), or ask the operator to list it in "
                f"{self.rules_file} shared_credentials.conn_ids")

    def env_refusal(self, name: str) -> str | None:
        """Why environment variable ``name`` is out of bounds for this house, or None."""
        prefix = self.env_prefix()
        if (name.startswith(prefix) and len(name) > len(prefix)) or name in self.shared_env:
            return None
        return (f"environment variable '{name}' is outside house '{self.house}' — rule: its name starts "
                f"with '{prefix}', or the operator lists it in {self.rules_file} shared_credentials.env")

    def credential_refusals(self, connector: str, credentials: Mapping[str, Any] | None) -> list[tuple[str, str]]:
        """(key under ``credentials``, reason) for every reference outside the house's namespace."""
        refusals: list[tuple[str, str]] = []
        if not isinstance(credentials, Mapping):
            return refusals
        if "conn_id" in credentials:
            reason = self.conn_id_refusal(connector, str(credentials["conn_id"]))
            if reason:
                refusals.append(("conn_id", reason))
        env = credentials.get("env")
        if isinstance(env, Mapping):
            for field, name in env.items():
                reason = self.env_refusal(str(name))
                if reason:
                    refusals.append((f"env.{field}", reason))
        return refusals

    # -- local files ------------------------------------------------------------------------------
    def path_refusal(self, value: str) -> str | None:
        """Why local path ``value`` is out of bounds for this house, or None."""
        try:
            self._confine(value)
        except _OutOfBounds as exc:
            return str(exc)
        return None

    def local_path(self, value: str | os.PathLike[str], *, key: str) -> Path:
        """``value`` as a path under the house's data root (relative paths start there), or a ConfigError."""
        try:
            return self._confine(os.fspath(value))
        except _OutOfBounds as exc:
            raise ConfigError(f"{self.config_file}: {key}: {exc}") from None

    def _confine(self, value: str) -> Path:
        rule = (f"rule: local files of house '{self.house}' live under {self.data_root} "
                f"({self.rules_file} house_data_root, or PODIUM_HOUSE_DATA_ROOT)")
        raw = Path(value)
        if ".." in raw.parts:
            raise _OutOfBounds(f"path '{value}' climbs out with '..' — {rule}")
        candidate = raw if raw.is_absolute() else self.data_root / raw
        root = Path(os.path.realpath(self.data_root))
        # realpath follows every symlink on the way, so a link pointing out of the root is caught here.
        resolved = Path(os.path.realpath(candidate))
        if resolved != root and not resolved.is_relative_to(root):
            raise _OutOfBounds(f"path '{value}' is outside the house's folder — {rule}")
        return resolved

    # -- S3 ---------------------------------------------------------------------------------------
    def s3_refusal(self, bucket: str, prefix: str) -> str | None:
        """Why S3 ``bucket``/``prefix`` is out of bounds for this house, or None."""
        if bucket not in self.s3_buckets:
            allowed = ", ".join(sorted(self.s3_buckets)) or "none"
            return (f"bucket '{bucket}' is not allowed — rule: buckets listed in {self.rules_file} "
                    f"s3_buckets ({allowed})")
        if ".." in PurePosixPath(prefix).parts or not prefix.startswith(self.s3_prefix):
            return (f"prefix '{prefix}' is outside house '{self.house}' — rule: the prefix starts with "
                    f"'{self.s3_prefix}' ({self.rules_file} s3_prefix)")
        return None

    def check_s3(self, bucket: str, prefix: str, *, key: str) -> None:
        """Raise a ConfigError naming file, key and rule when the S3 location is not the house's."""
        reason = self.s3_refusal(bucket, prefix)
        if reason:
            raise ConfigError(f"{self.config_file}: {key}: {reason}")


class _OutOfBounds(Exception):
    pass


@dataclass(frozen=True)
class FleetBoundary:
    """The operator's rules for every house of a fleet (``_fleet.yaml`` plus environment overrides)."""

    data_root: str = DEFAULT_DATA_ROOT
    s3_buckets: frozenset[str] = frozenset()
    s3_prefix: str = DEFAULT_S3_PREFIX
    shared_conn_ids: frozenset[str] = frozenset()
    shared_env: frozenset[str] = frozenset()
    rules_file: str = FLEET_FILE_NAME

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], rules_file: str = FLEET_FILE_NAME) -> FleetBoundary:
        """Read the boundary keys of a fleet settings mapping; ``PODIUM_HOUSE_DATA_ROOT`` wins over the file."""
        shared = settings.get("shared_credentials") or {}
        return cls(
            data_root=str(os.environ.get("PODIUM_HOUSE_DATA_ROOT") or settings.get("house_data_root")
                          or DEFAULT_DATA_ROOT),
            s3_buckets=_names(settings.get("s3_buckets")),
            s3_prefix=str(settings.get("s3_prefix") or DEFAULT_S3_PREFIX),
            shared_conn_ids=_names(shared.get("conn_ids") if isinstance(shared, Mapping) else None),
            shared_env=_names(shared.get("env") if isinstance(shared, Mapping) else None),
            rules_file=rules_file,
        )

    def for_house(self, house: str, config_file: str | os.PathLike[str] = "") -> HouseBoundary:
        """The limits of house ``house`` (``config_file`` is named in refusals)."""
        from podium.paths import REPO_ROOT

        var = os.environ.get("PODIUM_VAR_DIR") or str(REPO_ROOT / "var")
        return HouseBoundary(
            house=house, config_file=os.fspath(config_file) or f"{house}.yaml",
            data_root=Path(self.data_root.format(house=house, var=var)).expanduser(),
            s3_buckets=self.s3_buckets, s3_prefix=self.s3_prefix.format(house=house),
            shared_conn_ids=self.shared_conn_ids, shared_env=self.shared_env, rules_file=self.rules_file,
        )


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(str(v) for v in value) if isinstance(value, Iterable) else frozenset()


def fleet_boundary(houses_dir: str | os.PathLike[str]) -> FleetBoundary:
    """The boundary rules of the fleet whose house configs live in ``houses_dir``."""
    from podium.fleet import load_fleet_settings

    folder = Path(houses_dir)
    return FleetBoundary.from_settings(load_fleet_settings(folder), str(folder / FLEET_FILE_NAME))
