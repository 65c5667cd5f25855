"""One Airflow connection type per vendor auth kind (not per vendor: vendors share auth kinds).

Only the secret fields live in a connection; every non-secret setting (base URL, account, bucket…)
lives in the house config. The connector's config spec says which secret field sits in which
connection attribute (``x-connection-field``: ``login`` or ``password``); these types give the
Airflow UI the right labels and hide the fields a kind does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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


# The connection forms of the auth kinds connectors commonly declare (``Connector.auth_kind``).
CONNECTION_TYPES: dict[str, ConnectionKind] = {
    kind.conn_type: kind
    for kind in (
        ConnectionKind("podium_hmac", "PodiumHmacHook", "Podium: HMAC-signed API",
                       relabeling={"login": "Access key", "password": "Secret key"}),
        ConnectionKind("podium_api_key", "PodiumApiKeyHook", "Podium: API key",
                       hidden_fields=(*_UNUSED, "login"), relabeling={"password": "API key"}),
        ConnectionKind("podium_soap_shop", "PodiumSoapShopHook", "Podium: SOAP shop id",
                       hidden_fields=(*_UNUSED, "login"), relabeling={"password": "Shop id (Context/ShopId)"}),
        ConnectionKind("podium_s3", "PodiumS3Hook", "Podium: S3 bucket",
                       relabeling={"login": "Access key id", "password": "Secret access key"}),
        ConnectionKind("podium_oauth2", "PodiumOAuth2Hook", "Podium: OAuth2 client credentials",
                       relabeling={"login": "Client id", "password": "Client secret"}),
        ConnectionKind("podium_bearer", "PodiumBearerHook", "Podium: Bearer token",
                       hidden_fields=(*_UNUSED, "login"), relabeling={"password": "Bearer token"}),
        # A public API (auth kind ``none``): the connection holds nothing; houses need not name one.
        ConnectionKind("podium_none", "PodiumNoAuthHook", "Podium: public API, no credentials",
                       hidden_fields=(*_UNUSED, "login", "password")),
        ConnectionKind("podium_basic", "PodiumBasicHook", "Podium: HTTP Basic auth",
                       relabeling={"login": "User", "password": "Password or access token"}),
    )
}
GENERIC_HOOK = "PodiumHook"


def _kind_from_spec(conn_type: str, connector: Any) -> ConnectionKind:
    """A connection form for an auth kind no built-in form covers: labels from the config spec's secrets."""
    props = connector.config_spec.get("properties", {})
    labels = {attribute: str(props[field].get("title") or field.replace("_", " ").capitalize())
              for field, attribute in connector.secret_fields().items() if attribute in ("login", "password")}
    hidden = (*_UNUSED, *(a for a in ("login", "password") if a not in labels))
    return ConnectionKind(conn_type, GENERIC_HOOK, "Podium", hidden_fields=hidden, relabeling=labels)


def connection_types(connectors: Mapping[str, Any] | None = None) -> dict[str, ConnectionKind]:
    """Connection type -> form, for every installed connector's declared auth kind (third-party ones too).

    The hook name lists the connectors that use the type, so the Airflow UI says which form is whose."""
    if connectors is None:
        from podium.registry import all_connectors

        connectors = all_connectors()
    users: dict[str, list[str]] = {}
    kinds: dict[str, ConnectionKind] = {}
    for name, cls in sorted(connectors.items()):
        conn_type = cls.connection_type()
        kinds.setdefault(conn_type, CONNECTION_TYPES.get(conn_type) or _kind_from_spec(conn_type, cls))
        users.setdefault(conn_type, []).append(str(cls.title or name).split(" (")[0])
    return {conn_type: replace(kind, hook_name=f"{kind.hook_name} ({', '.join(users[conn_type])})")
            for conn_type, kind in sorted(kinds.items())}


def vendor_connection_type(connector: str) -> str:
    """Which connection type a house's ``credentials.conn_id`` for ``connector`` should be created with."""
    from podium.registry import get_connector

    return get_connector(connector).connection_type()
