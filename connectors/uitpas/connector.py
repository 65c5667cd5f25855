"""UiTPAS API 4.0 (publiq): passholders, their UiTPAS-discounted ticket sales and their check-ins.

Auth: an OAuth2 client access token (client credentials, form body, at publiq's Keycloak realm
``uitid``). Paging: ``start``/``limit`` (at most 500) on ``{totalItems, member[]}``. No change filter
exists: every sync re-reads the organizer's passholders, the ticket sales of its UiTPAS events (listed by
UiTdatabank's Search API) and each passholder's check-ins; the store's content hashing keeps unchanged
records cheap. See README.md for the sources
and the choices.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from requests.auth import AuthBase

from connectors.uitpas.streams import (
    CHECKINS_STREAM,
    DEFAULT_SALES_WINDOW_DAYS,
    MAX_LIMIT,
    PASSHOLDERS_STREAM,
    PRODUCTION_SEARCH,
    TICKET_SALES_STREAM,
)
from podium.errors import AuthError, ConfigError
from podium.parsing.json import JsonRecords
from podium.sdk.auth import OAuth2ClientCredentials
from podium.sdk.error_table import ErrorAction, ErrorRule
from podium.sdk.http import new_session
from podium.sdk.rest import RestConnector

PRODUCTION_API = "https://api.uitpas.be"
PRODUCTION_TOKEN_URL = "https://account.uitid.be/realms/uitid/protocol/openid-connect/token"
# What each stream needs of the client's permissions for the organizer (uitpas.json descriptions).
NEEDED_PERMISSIONS = ("PASSHOLDERS_SEARCH", "TICKETSALES_SEARCH", "CHECKINS_READ")
PERMISSIONS = "PASSHOLDERS_SEARCH (passholders), TICKETSALES_SEARCH (ticket_sales), CHECKINS_READ (checkins)"

# publiq answers RFC 7807 problem+json; the status decides, the problem's type and detail travel in
# the message (the HTTP client appends the vendor's body). A 403 is a permission the organizer has not
# granted this client: an auth/config matter for the house, never retried.
ERRORS: dict[int, ErrorRule] = {
    403: ErrorRule(ErrorAction.FAIL, AuthError,
                   "the publiq client lacks an UiTPAS permission for this organizer, or access to the "
                   "Search API (403 https://api.publiq.be/probs/auth/forbidden; needed for the organizer: "
                   f"{PERMISSIONS})"),
    400: ErrorRule(ErrorAction.FAIL, ConfigError,
                   "UiTPAS refused the request (400; e.g. url/query-limit-exceeded: limit above 500, or an "
                   "unknown organizer)"),
}


class UitpasConnector(RestConnector):
    """Passholders, ticket sales and check-ins of one UiTPAS organizer."""

    name = "uitpas"
    sandbox = "connectors.uitpas.sandbox:UitpasSandbox"
    version = "0.1.0"
    title = "UiTPAS (publiq) API 4.0"
    requests_per_second = 10.0  # undocumented for UiTPAS; a 429 (uitpas/rate-limited) is waited out
    error_overrides = ERRORS

    # Orchestration (see podium.sdk.Connector).
    auth_kind = "oauth2"
    # A full re-read every night: one request per event (sales) and per passholder (check-ins).
    default_schedule = "30 2 * * *"
    pool_slots = 4
    default_owner = "podium-ticketing"
    example_share = {"gemeenschapscentrum": 0.8, "cultuurcentrum": 0.7}

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        # The UiTPAS organizer id is the organizer's UiTdatabank id (uitpas.json, organizerId parameter).
        return {"organizer_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://podium-hub.be/{house}"))}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"login": f"{house}-demo", "password": "sandbox-secret"}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": True,
        "required": ["client_id", "client_secret", "organizer_id"],
        "properties": {
            "base_url": {"type": "string", "format": "uri", "default": PRODUCTION_API,
                         "description": "UiTPAS API root (test: https://api-test.uitpas.be)"},
            "token_url": {"type": "string", "format": "uri", "default": PRODUCTION_TOKEN_URL,
                          "description": "publiq's token endpoint (test: https://account-test.uitid.be"
                                         "/realms/uitid/protocol/openid-connect/token)"},
            "client_id": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "login",
                          "description": "publiq client id (kept with the secret: one credential pair per "
                                         "environment)"},
            "client_secret": {"type": "string", "minLength": 1, "secret": True,
                              "x-connection-field": "password"},
            "organizer_id": {"type": "string", "minLength": 1,
                             "description": "the house's UiTPAS organizer id (its UiTdatabank organizer id)"},
            "search_base_url": {"type": "string", "format": "uri", "default": PRODUCTION_SEARCH,
                                "description": "UiTdatabank Search API root, where the organizer's UiTPAS "
                                               "events are listed (test: https://search-test.uitdatabank.be)"},
            "sales_window_days": {"type": "integer", "minimum": 0, "default": DEFAULT_SALES_WINDOW_DAYS,
                                  "description": "read the sales of events on or after today minus this many "
                                                 "days (0: every UiTPAS event of the organizer, for a first "
                                                 "full history)"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": MAX_LIMIT,
                          "description": "passholders per page (UiTPAS refuses limit above 500)"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }
    rest_streams = (PASSHOLDERS_STREAM, TICKET_SALES_STREAM, CHECKINS_STREAM)

    def base_url(self) -> str:
        return str(self.config.get("base_url") or PRODUCTION_API)

    def auth(self) -> AuthBase:
        return OAuth2ClientCredentials(str(self.config.get("token_url") or PRODUCTION_TOKEN_URL),
                                       str(self.config["client_id"]), str(self.config["client_secret"]),
                                       session=new_session(), timeout=self.timeouts, retry=self.retry_policy())

    def check(self) -> None:
        """The token's permissions (``GET /permissions``): every permission the streams need for the house's
        organizer, else an AuthError naming the missing ones. An organizer the answer does not list (a
        permission granted through a linked organizer) is probed with one passholder instead."""
        organizer = str(self.config["organizer_id"])
        _, granted = self.client.get_document("permissions", JsonRecords("").load)
        entry = next((item for item in granted if isinstance(item, dict)
                      and isinstance(item.get("organizer"), dict) and item["organizer"].get("id") == organizer),
                     None) if isinstance(granted, list) else None
        if entry is None:
            self.client.get("passholders", params={"organizerId": organizer, "start": 0, "limit": 1})
            return
        missing = [name for name in NEEDED_PERMISSIONS if name not in (entry.get("permissions") or [])]
        if missing:
            raise AuthError(f"uitpas: the publiq client lacks {', '.join(missing)} for organizer {organizer} "
                            f"(needed: {PERMISSIONS})")
