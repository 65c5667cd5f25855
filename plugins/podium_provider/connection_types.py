"""One Airflow connection type per vendor auth kind (not per vendor: vendors share auth kinds).

The connector's config spec says which secret field lives in which connection attribute
(``x-connection-field``: ``login``/``password``/an extra's name); these types only give the Airflow
UI the right labels, hide the fields a kind does not use, and add the kind's extra fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConnectionKind:
    conn_type: str
    hook_class: str
    hook_name: str
    hidden_fields: tuple[str, ...] = ()
    relabeling: Mapping[str, str] = field(default_factory=dict)
    placeholders: Mapping[str, str] = field(default_factory=dict)
    extra_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


CONNECTION_TYPES: dict[str, ConnectionKind] = {
    kind.conn_type: kind
    for kind in (
        ConnectionKind(
            "podium_hmac", "PodiumHmacHook", "Podium: HMAC-signed API (Ticketmatic)",
            hidden_fields=("schema", "port", "extra"),
            relabeling={"login": "Access key", "password": "Secret key", "host": "API server (optional)"},
            placeholders={"host": "https://apps.ticketmatic.com"},
        ),
        ConnectionKind(
            "podium_api_key", "PodiumApiKeyHook", "Podium: API key (Yesplan)",
            hidden_fields=("schema", "port", "login", "extra"),
            relabeling={"password": "API key", "host": "Installation URL (optional)"},
            placeholders={"host": "https://dewarande.yesplan.be"},
        ),
        ConnectionKind(
            "podium_soap_login", "PodiumSoapLoginHook", "Podium: SOAP user login (Recreatex)",
            hidden_fields=("schema", "port", "extra"),
            relabeling={"login": "User name", "password": "Password", "host": "Service URL (optional)"},
        ),
        ConnectionKind(
            "podium_s3", "PodiumS3Hook", "Podium: S3 bucket (CdbXML exports)",
            hidden_fields=("schema", "port", "extra"),
            relabeling={"login": "Access key id", "password": "Secret access key",
                        "host": "Endpoint URL (S3-compatible store; empty for AWS)"},
            extra_fields={"region_name": {"label": "Region", "schema": {"type": ["string", "null"],
                                                                      "default": "eu-west-1"}}},
        ),
        ConnectionKind(
            "podium_oauth2", "PodiumOAuth2Hook", "Podium: OAuth2 client credentials (UiTdatabank, UWP)",
            hidden_fields=("schema", "port", "extra"),
            relabeling={"login": "Client id", "password": "Client secret", "host": "Token URL (optional)"},
            placeholders={"host": "https://account.uitid.be/oauth/token"},
        ),
    )
}

# Which connection type a house's ``credentials.conn_id`` should be created with, per connector.
VENDOR_CONNECTION_TYPE: dict[str, str] = {
    "ticketmatic": "podium_hmac",
    "yesplan": "podium_api_key",
    "recreatex": "podium_soap_login",
    "cdbxml": "podium_s3",
    "uwp": "podium_oauth2",
    "uitdatabank": "podium_oauth2",
}
