"""UiTdatabank Search API v3 (publiq): the Flemish events database, read as JSON-LD.

Auth: an OAuth2 client access token (client credentials at publiq's Auth0, audience
``https://api.publiq.be``), or, read-only, the ``x-client-id`` header. Paging: ``start``/``limit`` on a
``PagedCollection`` sorted on ``modified`` ascending, moving ``modifiedFrom`` before the 10,000-result
window. See README.md for sources and choices.
"""

from __future__ import annotations

from typing import Any, ClassVar

from requests.auth import AuthBase

from connectors.uitdatabank.streams import EVENTS_STREAM, MAX_LIMIT, RESULT_WINDOW
from podium.errors import ConfigError
from podium.sdk.auth import ApiKeyHeaderAuth, OAuth2ClientCredentials
from podium.sdk.http import new_session
from podium.sdk.rest import RestConnector

PRODUCTION_SEARCH = "https://search.uitdatabank.be"
PRODUCTION_TOKEN_URL = "https://account.uitid.be/oauth/token"
PUBLIQ_AUDIENCE = "https://api.publiq.be"


class UitdatabankConnector(RestConnector):
    """Events from UiTdatabank's Search API v3."""

    name = "uitdatabank"
    sandbox = "connectors.uitdatabank.sandbox:UitdatabankSandbox"
    version = "0.1.0"
    title = "UiTdatabank (publiq) Search API v3"
    requests_per_second = 5.0

    # Orchestration (see podium.sdk.Connector).
    auth_kind = "oauth2"
    default_schedule = "0 */4 * * *"
    pool_slots = 6
    default_owner = "podium-publication"
    example_share = {"cultuurcentrum": 1.0, "gemeenschapscentrum": 1.0, "kunstenorganisatie": 0.9}

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        import uuid

        return {"organizer_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://podium-hub.be/{house}"))}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"login": f"{house}-demo", "password": "sandbox-secret"}
    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": True,
        "required": ["client_id"],
        "properties": {
            "search_base_url": {"type": "string", "format": "uri", "default": PRODUCTION_SEARCH,
                                "description": "Search API root (test: https://search-test.uitdatabank.be)"},
            "token_url": {"type": "string", "format": "uri", "default": PRODUCTION_TOKEN_URL,
                          "description": "publiq's token endpoint (test: https://account-test.uitid.be/oauth/token)"},
            "audience": {"type": "string", "default": PUBLIQ_AUDIENCE},
            "auth": {"enum": ["client_credentials", "client_identification"], "default": "client_credentials",
                     "description": "client_credentials: Bearer client access token; client_identification: "
                                    "x-client-id header only (read-only, no secret)"},
            "client_id": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "login",
                          "description": "publiq client id (not confidential by itself; kept with the secret "
                                         "because the two form one credential pair per environment)"},
            "client_secret": {"type": "string", "minLength": 1, "secret": True,
                              "x-connection-field": "password"},
            "organizer_id": {"type": "string", "description": "only events of this organizer (uuid)"},
            "location_id": {"type": "string", "description": "only events at this place (uuid)"},
            "query": {"type": "string", "description": "advanced query (Search API q parameter)"},
            "workflow_status": {"type": "string",
                                "default": "READY_FOR_VALIDATION,APPROVED,REJECTED,DELETED"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
            "result_window": {"type": "integer", "minimum": 1, "default": RESULT_WINDOW,
                              "description": "the vendor's start+limit ceiling; change only for tests"},
            "lookback_seconds": {"type": "number", "minimum": 0, "default": 0,
                                 "description": "re-read this margin before the cursor (search indexing lag)"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
        "if": {"properties": {"auth": {"const": "client_identification"}}, "required": ["auth"]},
        "then": {},
        "else": {"required": ["client_secret"]},
    }
    rest_streams = (EVENTS_STREAM,)


    def base_url(self) -> str:
        return str(self.config.get("search_base_url") or PRODUCTION_SEARCH)

    def auth(self) -> AuthBase:
        client_id = self.config.get("client_id")
        if not client_id:
            raise ConfigError("uitdatabank: client_id is required")
        method = self.config.get("auth", "client_credentials")
        if method == "client_identification":
            return ApiKeyHeaderAuth(str(client_id), header="x-client-id")
        if method != "client_credentials":
            raise ConfigError(f"uitdatabank: unknown auth '{method}' (known: client_credentials, "
                              "client_identification)")
        secret = self.config.get("client_secret")
        if not secret:
            raise ConfigError("uitdatabank: client_secret is required for auth client_credentials")
        session = new_session()
        return OAuth2ClientCredentials(str(self.config.get("token_url") or PRODUCTION_TOKEN_URL),
                                       str(client_id), str(secret), session=session,
                                       audience=str(self.config.get("audience") or PUBLIQ_AUDIENCE),
                                       timeout=self.timeouts, retry=self.retry_policy())

    def check(self) -> None:
        """One result of the events search: proves the base URL, the token and the Search API access."""
        rest = self.rest_stream("events")
        params = {**rest.query(self, None), "start": 0, "limit": 1}
        self.client.get(rest.path, params=params)
