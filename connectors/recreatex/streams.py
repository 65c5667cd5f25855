"""The Recreatex streams: which WebShop operation each reads and how a served page decodes.

A served document is a Find* response (a page, or the one record a Find by Id answers) in any WebShop
version namespace (``soap.NAMESPACE_PATTERN``).
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.recreatex.soap import NAMESPACE_PATTERN
from podium.parsing import XmlRecords
from podium.sdk.connector import StreamSpec


def _webshop(tag: str) -> XmlRecords:
    return XmlRecords(tags=(tag,), namespace_patterns=(NAMESPACE_PATTERN,))


@dataclass(frozen=True)
class SoapStream:
    """One WebShop Find* operation read page by page (``PagingCriteria``)."""

    spec: StreamSpec
    operation: str
    criteria_part: str  # the body part holding the search criteria (with its Paging)
    windowed: bool  # the criteria have From/Until: read a date window around today


CULTURE_EVENTS = SoapStream(
    StreamSpec("culture_events", "event", "Id", _webshop("CultureEvent"),
               description="FindCultureEvents: dated performances starting inside the window"),
    "FindCultureEvents", "CultureEventSearchCriteria", windowed=True,
)
PERSONS = SoapStream(
    StreamSpec("persons", "contact", "Id", _webshop("Person"),
               description="FindPerson: every person (no date criterion exists; content hashing skips unchanged)"),
    "FindPerson", "Criteria", windowed=False,
)
RESERVATIONS = SoapStream(
    StreamSpec("reservations", "ticket", "Id", _webshop("CultureReservation"),
               description="FindCultureReservations: reservations for events inside the window; one ticket per seat"),
    "FindCultureReservations", "CultureReservationSearchCriteria", windowed=True,
)

SOAP_STREAMS: tuple[SoapStream, ...] = (CULTURE_EVENTS, PERSONS, RESERVATIONS)
