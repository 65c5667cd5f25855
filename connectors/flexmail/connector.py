"""Flexmail REST API v1 (a Belgian mailing tool): the contacts of one account, with their interests.

Auth: HTTP Basic, the account id as user and a personal access token as password. Pages: HAL
``{total, limit, offset, _embedded: {item: [...]}}``, ``limit``/``offset`` up to 500. No list has a
change filter, so every sync re-reads the list (hashing keeps it cheap) and a contact that is no
longer listed (unsubscribed or removed) is reconciled by the mapping's ``unlisted`` rule. See
README.md for sources and choices.
"""

from __future__ import annotations

from typing import Any, ClassVar

from requests.auth import AuthBase

from connectors.flexmail.streams import CONTACTS_STREAM, MAX_LIMIT
from podium.sdk.auth import BasicAuth
from podium.sdk.rest import RestConnector

PRODUCTION_API = "https://api.flexmail.eu"


class FlexmailConnector(RestConnector):
    """Contacts from Flexmail's REST API v1."""

    name = "flexmail"
    sandbox = "connectors.flexmail.sandbox:FlexmailSandbox"
    version = "0.1.0"
    title = "Flexmail REST API v1"
    # "60 requests/minute" per account (PostHog's Flexmail source); one interest request per contact.
    requests_per_second = 1.0

    # Orchestration (see podium.sdk.Connector): one Basic-auth connection form, a nightly full re-read
    # (the rate budget makes a sync of a few thousand contacts take an hour), a small vendor pool.
    auth_kind = "basic"
    default_schedule = "30 2 * * *"  # nightly, off-peak
    pool_slots = 3
    default_owner = "podium-crm"  # the team of the mailing route (podium_example_mailing)
    example_share = {"kunstenorganisatie": 0.45, "cultuurcentrum": 0.2, "gemeenschapscentrum": 0.1}
    example_group = "mailing"  # a house mails its public with one tool: Flexmail or Mailchimp

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        from connectors.flexmail.sandbox import account_id

        return {"account_id": account_id(house)}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"password": "sandbox-token"}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": True,
        "required": ["account_id", "personal_access_token"],
        "properties": {
            "base_url": {"type": "string", "format": "uri", "default": PRODUCTION_API,
                         "description": "the REST API root"},
            # An identifier, not a secret (Airbyte's spec does not mark it either): a short account number
            # registered as a secret would be masked wherever those digits occur, in any archived page.
            "account_id": {"type": "string", "pattern": "^\\S+$", "title": "Account id",
                           "description": "Flexmail account id (the Basic auth user)"},
            "personal_access_token": {"type": "string", "minLength": 1, "secret": True,
                                      "x-connection-field": "password", "title": "Personal access token",
                                      "description": "Settings > API > Personal access tokens"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": MAX_LIMIT},
            "read_interests": {"type": "boolean", "default": True,
                               "description": "read each contact's interest subscriptions (one request "
                                              "per contact); false: list membership only"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }
    rest_streams = (CONTACTS_STREAM,)

    def base_url(self) -> str:
        return str(self.config.get("base_url") or PRODUCTION_API).rstrip("/")

    def auth(self) -> AuthBase:
        return BasicAuth(str(self.config["account_id"]), str(self.config["personal_access_token"]))

    def check(self) -> None:
        """One contact of the list: proves the base URL, the account id and the token."""
        self.client.get(CONTACTS_STREAM.path_for(self), params={"limit": 1, "offset": 0})
