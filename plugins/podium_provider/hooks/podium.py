"""Thin hooks: adapt an Airflow Connection to the field mapping the core's secret resolver expects.

``connection_fields`` is what the sync task installs with ``podium.secrets.set_connection_resolver``:
it reads the connection through ``BaseHook.get_connection`` so any secrets backend (Vault, AWS
Secrets Manager, environment variables, the metadata DB) works unchanged. The hooks only carry the
connection type's identity; no vendor logic lives here (that is the connector's job).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

_ATTRIBUTES = ("conn_type", "host", "login", "password", "schema", "port")


def connection_fields(conn_id: str) -> dict[str, Any]:
    """The connection's attributes and extra fields as one flat mapping (None values dropped)."""
    from podium.errors import ConfigError

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException and backend errors alike: the house is misconfigured
        raise ConfigError(f"Airflow connection '{conn_id}' cannot be read: {type(exc).__name__}: {exc}") from None
    fields: dict[str, Any] = {}
    for key, value in (conn.extra_dejson or {}).items():
        # Older UIs stored form extras as extra__<conn_type>__<name>.
        name = key.split("__", 2)[2] if key.startswith("extra__") and key.count("__") >= 2 else key
        fields[name] = value
    for attribute in _ATTRIBUTES:
        value = getattr(conn, attribute, None)
        if value is not None and value != "":
            fields[attribute] = value
    return fields


class PodiumHook(BaseHook):
    """Base of the Podium connection-type hooks: ``get_conn()`` returns the connection's fields."""

    conn_name_attr = "podium_conn_id"
    default_conn_name = "podium_default"
    conn_type = "podium"
    hook_name = "Podium"

    def __init__(self, podium_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.podium_conn_id = podium_conn_id

    def get_conn(self) -> dict[str, Any]:
        return connection_fields(self.podium_conn_id)


class PodiumHmacHook(PodiumHook):
    conn_type = "podium_hmac"
    hook_name = "Podium: HMAC-signed API"


class PodiumApiKeyHook(PodiumHook):
    conn_type = "podium_api_key"
    hook_name = "Podium: API key"


class PodiumSoapShopHook(PodiumHook):
    conn_type = "podium_soap_shop"
    hook_name = "Podium: SOAP shop id"


class PodiumS3Hook(PodiumHook):
    conn_type = "podium_s3"
    hook_name = "Podium: S3 bucket"


class PodiumOAuth2Hook(PodiumHook):
    conn_type = "podium_oauth2"
    hook_name = "Podium: OAuth2 client credentials"


class PodiumBearerHook(PodiumHook):
    conn_type = "podium_bearer"
    hook_name = "Podium: Bearer token"


class PodiumNoAuthHook(PodiumHook):
    conn_type = "podium_none"
    hook_name = "Podium: public API, no credentials"


class PodiumBasicHook(PodiumHook):
    conn_type = "podium_basic"
    hook_name = "Podium: HTTP Basic auth"
