"""Yesplan connector: the ``events`` of one organisation's installation, read over a moving date window.

Yesplan's REST API (``https://{organisation}.yesplan.be/api/...?api_key=...``) answers a search
query in the path (``api/events/event:date:01-03-2025 TO 31-03-2026``) with ``{"data": [...],
"pagination": {"next": ...}}``. It has no modified-since filter, so every sync reads the window
``today - days_back … today + days_ahead`` in full; the store's content hash keeps unchanged events
from being rewritten. Custom data (``api/event/{id}/customdata``) costs one extra request per event
and is fetched only for the keywords a house configures.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from requests.auth import AuthBase

from podium import clock
from podium.errors import ConfigError
from podium.parsing import JsonRecords
from podium.sdk.auth import ApiKeyQueryAuth
from podium.sdk.connector import StreamSpec
from podium.sdk.rest import ChildRequest, Paginate, RestConnector, RestStream, computed

DEFAULT_DAYS_BACK = 30
DEFAULT_DAYS_AHEAD = 365


def flatten_customdata(document: Any) -> dict[str, Any]:
    """Keyword -> value from a customdata answer: the ``items`` list (``?keywords=``) or the ``groups`` tree."""
    out: dict[str, Any] = {}

    def walk(nodes: Any) -> None:
        if not isinstance(nodes, list):
            return
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if isinstance(node.get("children"), list):
                walk(node["children"])
            elif node.get("keyword") and node.get("value") not in (None, "", [], {}):
                out[str(node["keyword"])] = node["value"]

    if isinstance(document, dict):
        walk(document.get("items"))
        walk(document.get("groups"))
    return out


def _attach_customdata(connector: YesplanConnector, record: dict[str, Any], document: Any) -> None:
    """The kept keywords into ``customdata``, the external-id keywords into ``podium_external_ids``."""
    values = flatten_customdata(document)
    kept = {k: values[k] for k in connector.kept_keywords() if k in values}
    if kept:
        record["customdata"] = kept
    external = {}
    for keyword, system in connector.external_id_keywords().items():
        value = values.get(keyword)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            external[system] = str(value).strip()
    if external:
        record["podium_external_ids"] = external


class YesplanConnector(RestConnector):
    """Yesplan events: api_key query auth, date-window search, ``pagination.next`` links."""

    name = "yesplan"
    sandbox = "connectors.yesplan.sandbox:YesplanSandbox"
    version = "0.1.0"
    title = "Yesplan (planning)"
    # Yesplan asks integrations to respect its rate limits without publishing a number we could read;
    # itk-dev/yesplan-asana backs off 6 s on 429. Five a second stays polite; the sandbox enforces 20.
    requests_per_second = 5.0

    # Orchestration (see podium.sdk.Connector).
    auth_kind = "api_key"
    default_schedule = "15 */2 * * *"
    pool_slots = 4
    default_owner = "podium-planning"
    example_share = {"cultuurcentrum": 0.8, "gemeenschapscentrum": 0.15, "kunstenorganisatie": 0.7}

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        return {"base_url": f"https://{house.replace('-', '')}.yesplan.be"}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {"password": cls.sandbox_class().api_key}

    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Yesplan",
        "type": "object",
        "required": ["base_url", "api_key"],
        "properties": {
            "base_url": {"type": "string", "format": "uri", "pattern": "^https?://",
                         "description": "The organisation's installation, e.g. https://dewarande.yesplan.be"},
            "days_back": {"type": "integer", "minimum": 0, "default": DEFAULT_DAYS_BACK,
                          "description": "Days before today the synced window starts"},
            "days_ahead": {"type": "integer", "minimum": 0, "default": DEFAULT_DAYS_AHEAD,
                           "description": "Days after today the synced window ends"},
            "customdata_keywords": {
                "type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                "description": "Custom data keywords kept in extras.customdata (one extra request per event)"},
            "external_id_keywords": {
                "type": "object", "additionalProperties": {"type": "string", "minLength": 1}, "default": {},
                "description": "Custom data keyword -> system name for external_ids, "
                               "e.g. {ticketing_tm_eventid: ticketmatic}"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0, "default": 5.0},
            "api_key": {"type": "string", "minLength": 1, "secret": True, "x-connection-field": "password",
                        "description": "API key created in Yesplan's system settings for an integration user"},
        },
    }
    rest_streams = (
        RestStream(
            # A list page is ``{pagination, data}``; ``GET api/event/{id}`` serves one event alone.
            spec=StreamSpec(name="events", entity="event", primary_key="id",
                            decoder=JsonRecords("data", single_record_key="id", page_markers=("pagination",)),
                            cursor=None, description="Events whose date lies in the configured window"),
            path=computed(lambda connector: connector.events_path()),
            paginator=Paginate("next_link", next_path="pagination.next"),
            # A killed sync may have stored a next link whose booked result set has since expired
            # (``pagination.expires``): the window is read again; the content hash skips repeats.
            restart_refused_resume=True,
            children=(ChildRequest("api/event/{id}/customdata", into=_attach_customdata,
                                   params={"keywords": computed(lambda c: ",".join(c.customdata_keywords()))},
                                   when=computed(lambda c: bool(c.customdata_keywords()))),),
        ),
    )

    # -- settings ----------------------------------------------------------------------------------
    def base_url(self) -> str:
        url = str(self.config.get("base_url") or "").strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError("yesplan: base_url must be the installation URL, e.g. https://dewarande.yesplan.be")
        return url.rstrip("/")

    def auth(self) -> AuthBase:
        key = self.config.get("api_key")
        if not key:
            raise ConfigError("yesplan: the api_key credential is missing")
        return ApiKeyQueryAuth(str(key), "api_key")

    def _days(self, name: str, default: int) -> int:
        value = self.config.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"yesplan: {name} must be a whole number of days >= 0, got {value!r}")
        return value

    def window(self, today: date | None = None) -> tuple[date, date]:
        """First and last day (house time zone) of the synced window."""
        today = today or clock.today(self.context.timezone)
        return (today - timedelta(days=self._days("days_back", DEFAULT_DAYS_BACK)),
                today + timedelta(days=self._days("days_ahead", DEFAULT_DAYS_AHEAD)))

    def events_path(self, today: date | None = None) -> str:
        """``api/events/event:date:dd-mm-YYYY TO dd-mm-YYYY`` for the window (Yesplan's date format)."""
        first, last = self.window(today)
        query = f"event:date:{first:%d-%m-%Y} TO {last:%d-%m-%Y}"
        return "api/events/" + quote(query, safe=":")

    def kept_keywords(self) -> list[str]:
        """Custom data keywords kept in ``extras.customdata``."""
        kept = self.config.get("customdata_keywords") or []
        if not isinstance(kept, list) or not all(isinstance(k, str) and k for k in kept):
            raise ConfigError("yesplan: customdata_keywords must be a list of keywords")
        return list(kept)

    def customdata_keywords(self) -> list[str]:
        """Every custom data keyword to fetch: the kept ones plus the external-id ones."""
        return list(dict.fromkeys([*self.kept_keywords(), *self.external_id_keywords()]))

    def external_id_keywords(self) -> dict[str, str]:
        """Custom data keyword -> external system name."""
        ids = self.config.get("external_id_keywords") or {}
        if not isinstance(ids, Mapping) or not all(isinstance(v, str) and v for v in ids.values()):
            raise ConfigError("yesplan: external_id_keywords must map keywords to system names")
        return {str(k): str(v) for k, v in ids.items()}
