"""One Airflow connection type per vendor auth kind (not per vendor: vendors share auth kinds).

Only the secret fields live in a connection; every non-secret setting (base URL, account, bucket…)
lives in the house config. The connector's config spec says which secret field sits in which
connection attribute (``x-connection-field``: ``login`` or ``password``); these types give the
Airflow UI the right labels and hide the fields a kind does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_UNUSED = ("host", "schema", "port", "extra")


@dataclass(frozen=True)
class ConnectionKind:
    conn_type: str
    hook_class: str
    hook_name: str
    hidden_fields: tuple[str, ...] = _UNUSED
    relabeling: Mapping[str, str] = field(default_factory=dict)
    placeholders: Mapping[str, str] = field(default_factory=dict)
    extra_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


CONNECTION_TYPES: dict[str, ConnectionKind] = {
    kind.conn_type: kind
    for kind in (
        ConnectionKind("podium_hmac", "PodiumHmacHook", "Podium: HMAC-signed API (Ticketmatic)",
                       relabeling={"login": "Access key", "password": "Secret key"}),
        ConnectionKind("podium_api_key", "PodiumApiKeyHook", "Podium: API key (Yesplan, CdbXML feed)",
                       hidden_fields=(*_UNUSED, "login"), relabeling={"password": "API key"}),
        ConnectionKind("podium_soap_shop", "PodiumSoapShopHook", "Podium: SOAP shop id (Recreatex WebShop)",
                       hidden_fields=(*_UNUSED, "login"), relabeling={"password": "Shop id (Context/ShopId)"}),
        ConnectionKind("podium_s3", "PodiumS3Hook", "Podium: S3 bucket (UWP data product)",
                       relabeling={"login": "Access key id", "password": "Secret access key"}),
        ConnectionKind("podium_oauth2", "PodiumOAuth2Hook", "Podium: OAuth2 client credentials (UiTdatabank)",
                       relabeling={"login": "Client id", "password": "Client secret"}),
    )
}

# Which connection type a house's ``credentials.conn_id`` should be created with, per connector.
VENDOR_CONNECTION_TYPE: dict[str, str] = {
    "ticketmatic": "podium_hmac",
    "yesplan": "podium_api_key",
    "recreatex": "podium_soap_shop",
    "cdbxml": "podium_api_key",
    "uwp": "podium_s3",
    "uitdatabank": "podium_oauth2",
}
