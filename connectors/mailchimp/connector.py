"""Mailchimp Marketing API v3: the members of one audience (list), followed on ``last_changed``.

Auth: HTTP Basic with any user name and the API key as password; the key ends in its data centre
(``…-us3``), which names the API host ``https://us3.api.mailchimp.com/3.0`` unless ``base_url`` is set.
Paging: ``count``/``offset`` with ``total_items``, sorted on ``last_changed`` ascending, the lower bound
``since_last_changed`` moved after every page. Archived members are read in a second pass
(``status=archived``). Errors are RFC 7807 problem documents. See README.md for sources and choices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from requests.auth import AuthBase

from connectors.mailchimp.streams import ARCHIVED_MEMBERS_STREAM, MAX_COUNT, MEMBERS_STREAM
from podium.errors import AuthError, ConfigError
from podium.sdk.auth import BasicAuth
from podium.sdk.connector import Page
from podium.sdk.error_table import ErrorAction, ErrorRule
from podium.sdk.rest import RestConnector
from podium.secrets import register_secret

# Mailchimp ignores the Basic user name; the Marketing API docs' curl examples send "anystring".
BASIC_USER = "podium"
ARCHIVED = "archived"  # the state key of the archived-members pass


def data_center(api_key: str) -> str:
    """The data centre an API key names (``…-us3`` -> ``us3``); ConfigError without one, never echoing the key."""
    _, dash, dc = api_key.rpartition("-")
    if not dash or not dc.isalnum() or not dc.isascii():
        raise ConfigError("mailchimp: the api_key does not end in its data centre (like '-us3'); "
                          "set base_url to the account's API root instead")
    return dc.lower()


class MailchimpConnector(RestConnector):
    """Audience members from the Mailchimp Marketing API v3."""

    name = "mailchimp"
    sandbox = "connectors.mailchimp.sandbox:MailchimpSandbox"
    version = "0.1.0"
    title = "Mailchimp Marketing API v3"
    # Mailchimp limits simultaneous connections (10 per user), not requests per second. One sync holds
    # one connection at a time (pages are read in turn); the per-process budget below keeps a burst of
    # houses on one data centre polite without coming near the vendor's limit.
    requests_per_second = 10.0

    # Orchestration (see podium.sdk.Connector).
    auth_kind = "api_key"
    default_schedule = "30 */2 * * *"
    # Each house has its own Mailchimp account, and a house syncs one connector at a time (the store's
    # lock), so a house never holds more than one of its account's ten connections; the pool only
    # bounds how many of the hub's workers wait on Mailchimp at once.
    pool_slots = 8
    default_owner = "podium-mailing"
    example_share = {"cultuurcentrum": 0.35, "gemeenschapscentrum": 0.6, "kunstenorganisatie": 0.25}
    example_group = "mailing"

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        return {"list_id": hashlib.sha256(f"mailchimp:{house}".encode()).hexdigest()[:10]}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"password": cls.sandbox_class().api_key}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mailchimp",
        "type": "object",
        "additionalProperties": True,
        "required": ["api_key", "list_id"],
        "properties": {
            "api_key": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "password",
                        "title": "API key", "description": "Account > Extras > API keys; ends in its data centre"},
            "list_id": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9]+$",
                        "description": "The audience (list) id: Audience > Settings > Audience name and defaults"},
            "base_url": {"type": "string", "format": "uri", "pattern": "^https?://",
                         "description": "API root; default https://<dc>.api.mailchimp.com/3.0 from the key's suffix"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": MAX_COUNT},
            "include_archived": {"type": "boolean", "default": True,
                                 "description": "also read archived members (a second request series)"},
            "lookback_seconds": {"type": "number", "minimum": 0, "default": 1,
                                 "description": "re-read this margin before the cursor"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }
    rest_streams = (MEMBERS_STREAM,)
    error_overrides: ClassVar[Mapping[int, ErrorRule]] = {
        401: ErrorRule(ErrorAction.FAIL, AuthError, "Mailchimp refused the API key (401): check the key and its "
                                                    "data centre"),
        404: ErrorRule(ErrorAction.FAIL, ConfigError, "Mailchimp has no such audience (404): check list_id"),
    }

    def __init__(self, config: Mapping[str, Any], context: Any) -> None:
        super().__init__(config, context)
        key = str(self.config["api_key"])
        register_secret(key)
        # The part before the data-centre suffix is the secret itself: masked wherever it appears alone.
        register_secret(key.rpartition("-")[0])

    def base_url(self) -> str:
        configured = self.config.get("base_url")
        if configured:
            return str(configured).rstrip("/")
        return f"https://{data_center(str(self.config['api_key']))}.api.mailchimp.com/3.0"

    def auth(self) -> AuthBase:
        return BasicAuth(BASIC_USER, str(self.config["api_key"]))

    def check(self) -> None:
        """One member of the audience: proves the data centre, the key and the list id."""
        rest = self.rest_stream("members")
        self.client.get(rest.path_for(self), params={**rest.query(self, None), "count": 1, "offset": 0})

    def read(self, stream: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        """The members the API serves by default, then the archived ones (asked for by status).

        The state keeps each pass's position: ``{cursor, resume?, max_seen?, archived: {cursor, ...}}``.
        """
        self.stream(stream)
        state = dict(state or {})
        archived = state.pop(ARCHIVED, None)
        if archived is None:
            archived = {"cursor": state["cursor"]} if state.get("cursor") else {}
        live_after: dict[str, Any] = state
        for page in self._read_pages(MEMBERS_STREAM, state):
            live_after = page.state
            page.state = {**page.state, ARCHIVED: archived}
            yield page
        if not self.config.get("include_archived", True):
            return
        for page in self._read_pages(ARCHIVED_MEMBERS_STREAM, archived):
            page.state = {**live_after, ARCHIVED: page.state}
            yield page

