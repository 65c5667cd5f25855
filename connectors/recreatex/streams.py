"""The Recreatex streams: which WebShop operation each reads and how a served page decodes."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.recreatex.soap import NAMESPACE
from podium.parsing import XmlRecords
from podium.sdk.connector import StreamSpec


@dataclass(frozen=True)
class SoapStream:
    """One WebShop Find* operation read page by page (``PagingCriteria``)."""

    spec: StreamSpec
    operation: str
    criteria_part: str  # the body part holding the search criteria (with its Paging)
    windowed: bool  # the criteria have From/Until: read a date window around today


CULTURE_EVENTS = SoapStream(
    StreamSpec("culture_events", "event", "Id", XmlRecords(tags=("CultureEvent",), namespaces=(NAMESPACE,)),
               description="FindCultureEvents: dated performances starting inside the window"),
    "FindCultureEvents", "CultureEventSearchCriteria", windowed=True,
)
PERSONS = SoapStream(
    StreamSpec("persons", "contact", "Id", XmlRecords(tags=("Person",), namespaces=(NAMESPACE,)),
               description="FindPerson: every person (no date criterion exists; content hashing skips unchanged)"),
    "FindPerson", "Criteria", windowed=False,
)
RESERVATIONS = SoapStream(
    StreamSpec("reservations", "ticket", "Id", XmlRecords(tags=("CultureReservation",), namespaces=(NAMESPACE,)),
               description="FindCultureReservations: reservations for events inside the window; one ticket per seat"),
    "FindCultureReservations", "CultureReservationSearchCriteria", windowed=True,
)

SOAP_STREAMS: tuple[SoapStream, ...] = (CULTURE_EVENTS, PERSONS, RESERVATIONS)
