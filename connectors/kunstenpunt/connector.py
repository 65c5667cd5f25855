"""Kunstenpunt API v1: the Flemish performing-arts database (organisations, productions, performances).

No auth (the swagger declares none). Lists are bare JSON arrays paged with the required ``offset`` and
``limit``; the number of hits is only in the ``x_total_count`` response header. There is no
modified-since filter: every sync reads the house's selection again and the store's content hash
keeps unchanged records unchanged. One detail request per record (``details``, on by default) adds
what the list items lack: the production (id, season, organisations) of a performance, the e-mail
addresses and phone numbers of an organisation. See README.md for sources and choices.
"""

from __future__ import annotations

from typing import Any, ClassVar

from podium.errors import ConfigError
from podium.parsing.json import JsonRecords
from podium.sdk.connector import StreamSpec
from podium.sdk.paginators import OffsetPaginator
from podium.sdk.rest import ChildRequest, Paginate, RestConnector, RestStream, computed, setting

# The swagger's response header with the number of hits (``headers.x_total_count`` of every list).
TOTAL_HEADER = "x_total_count"
# The performances' other performances (``productie.voorstellingen``) are records of their own.
_NOT_MERGED = {"voorstellingen"}


def _merge_fiche(connector: Any, record: dict[str, Any], fiche: Any) -> None:
    """The detail document's fields that the list item lacks; the list item's own values stay."""
    if not isinstance(fiche, dict):
        return
    for key, value in fiche.items():
        if key in ("productie", "production") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _NOT_MERGED}
        record.setdefault(key, value)


def _flag(name: str) -> Any:
    """A boolean setting as the API's query value (``true``/``false``), absent when not set."""
    def value(connector: Any) -> str | None:
        flag = connector.config.get(name)
        return None if flag is None else ("true" if flag else "false")
    return computed(value)


def _paging() -> Paginate:
    # A short last page or the header's total ends the paging; a missing header falls back to the short page.
    return Paginate(OffsetPaginator, limit=setting("page_size", 50), total_header=TOTAL_HEADER)


PODIUMVOORSTELLINGEN = RestStream(
    spec=StreamSpec(name="podiumvoorstellingen", entity="event", primary_key="id", decoder=JsonRecords(""),
                    cursor=None, description="Performances (a date, no time) from GET /podiumvoorstellingen"),
    path="podiumvoorstellingen",
    params={"organiteit_id": setting("organiteit_id"), "podiumproductie_id": setting("podiumproductie_id"),
            "from_date": setting("from_date"), "until_date": setting("until_date")},
    paginator=_paging(),
    children=(ChildRequest("podiumvoorstellingen/{id}", into=_merge_fiche, when=setting("details", True)),),
)

ORGANITEITEN = RestStream(
    spec=StreamSpec(name="organiteiten", entity="contact", primary_key="id", decoder=JsonRecords(""),
                    cursor=None, description="Organisations and artists from GET /organiteiten"),
    path="organiteiten",
    params={"organiteit_naam_begint_met": setting("organiteit_naam_begint_met"), "active": _flag("active")},
    paginator=_paging(),
    children=(ChildRequest("organiteiten/{id}", into=_merge_fiche, when=setting("details", True)),),
)

BUITENLANDSE_CONCERTEN = RestStream(
    spec=StreamSpec(name="buitenlandse_concerten", entity="event", primary_key="id", decoder=JsonRecords(""),
                    cursor=None, description="Concerts abroad by Flemish musicians from GET /buitenlandse_concerten"),
    path="buitenlandse_concerten",
    params={"organiteit_id": setting("organiteit_id"), "from_date": setting("from_date"),
            "until_date": setting("until_date")},
    paginator=_paging(),
    children=(ChildRequest("buitenlandse_concerten/{id}", into=_merge_fiche, when=setting("details", True)),),
)


class KunstenpuntConnector(RestConnector):
    """Performances and organisations from the Kunstenpunt API v1."""

    name = "kunstenpunt"
    sandbox = "connectors.kunstenpunt.sandbox:KunstenpuntSandbox"
    version = "0.1.0"
    title = "Kunstenpunt API v1 (podiumkunsten)"
    requests_per_second = 5.0

    # Orchestration (see podium.sdk.Connector). A public API: no credentials (connection type podium_none).
    auth_kind = "none"
    default_schedule = "0 5 * * *"
    pool_slots = 2
    default_owner = "podium-publication"
    example_share = {"kunstenorganisatie": 0.8, "cultuurcentrum": 0.1}

    @classmethod
    def example_settings(cls, house: str, name: str) -> dict[str, Any]:
        from connectors.kunstenpunt.sandbox import company_ids
        from podium.sandbox.datasets import stable_int

        # No public production host is documented: generated fleets point at the sandbox's default port,
        # and the house's own organiteit is a company of the sandbox's database (so it has performances).
        ids = company_ids()
        return {"base_url": "http://127.0.0.1:8711/v1", "organiteit_id": ids[stable_int(house, 4) % len(ids)]}

    @classmethod
    def demo_credentials(cls, house: str) -> dict[str, Any]:
        return {}


    config_spec: ClassVar[dict[str, Any]] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": True,
        "required": ["base_url"],
        "properties": {
            "base_url": {"type": "string", "format": "uri",
                         "description": "the API root with its version, e.g. https://<kunstenpunt host>/v1 "
                                        "(the swagger's basePath is /v1; no public production host is documented)"},
            "organiteit_id": {"type": "integer", "minimum": 1,
                              "description": "only performances linked to this organiteit (the house's own id)"},
            "podiumproductie_id": {"type": "integer", "minimum": 1,
                                   "description": "only performances of this production"},
            "from_date": {"type": "string", "minLength": 1,
                          "description": "only performances on or after this date (sent as given)"},
            "until_date": {"type": "string", "minLength": 1,
                           "description": "only performances on or before this date (sent as given)"},
            "organiteit_naam_begint_met": {"type": "string", "minLength": 1,
                                           "description": "only organiteiten whose name starts with this"},
            "active": {"type": "boolean", "description": "only active (true) or inactive (false) organiteiten"},
            "details": {"type": "boolean", "default": True,
                        "description": "one detail request per record: a performance's production (id, season, "
                                       "organisations), an organisation's e-mail and phone numbers"},
            "page_size": {"type": "integer", "minimum": 1, "default": 50, "description": "limit per page"},
            "requests_per_second": {"type": "number", "exclusiveMinimum": 0},
        },
    }
    rest_streams = (PODIUMVOORSTELLINGEN, ORGANITEITEN, BUITENLANDSE_CONCERTEN)

    def base_url(self) -> str:
        url = str(self.config.get("base_url") or "").strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError("kunstenpunt: base_url must be the API root, e.g. https://<host>/v1")
        return url.rstrip("/")

    def check(self) -> None:
        """One performance of the house's selection: proves the base URL and the filters."""
        rest = self.rest_stream("podiumvoorstellingen")
        self.client.get(rest.path_for(self), params={**rest.query(self, None), "offset": 0, "limit": 1})
