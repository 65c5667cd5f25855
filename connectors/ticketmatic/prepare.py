"""``pre:`` hooks of the Ticketmatic mappings: derive the values YAML paths cannot reach.

Each hook returns a shallow copy of the raw record with helper keys under ``@_`` (never extras):
values that need a lookup table, a sum over a list, or a Ticketmatic status code decided from
several fields. Canonical placement stays in ``mappings/ticketmatic/*.yaml``.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.ticketmatic.streams import parse_tm_time
from podium.mapping.engine import MappingContext, MappingError

LANGS = ("nl", "fr", "de", "en")
_TAG = re.compile(r"<[^>]+>")

# Event.currentstatus (tm-go types.go "A single Event"): Draft 19001, Active 19002, Closed 19003.
EVENT_DRAFT, EVENT_ACTIVE, EVENT_CLOSED = 19001, 19002, 19003
# Order.status: 21001 Unconfirmed, 21002 Confirmed, 21003 Archived.
ORDER_UNCONFIRMED, ORDER_CONFIRMED, ORDER_ARCHIVED = 21001, 21002, 21003
# ContactOptIn.status: Unknown 7601, Opted In 7602, Opted Out 7603.
OPTIN_IN, OPTIN_OUT = 7602, 7603
_CANCELLED_NAME = re.compile(r"^\s*(geannuleerd|afgelast|annul[ée]e?|cancelled|canceled)\b", re.IGNORECASE)


def _id(value: Any) -> str | None:
    """Ticketmatic uses 0 for "no link"; a real id as a string."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MappingError(f"id {value!r} is not an integer")
    return str(value)


def _lookup(raw: dict[str, Any], table: str, key: Any) -> dict[str, Any]:
    tables = raw.get("@_lookup") or {}
    found = (tables.get(table) or {}).get(str(key)) if key not in (None, 0) else None
    return found if isinstance(found, dict) else {}


def _text(value: Any) -> str | None:
    return " ".join(str(value).split()) or None if value not in (None, "") else None


def _lang_map(raw: dict[str, Any], field: str, default_lang: str = "nl") -> dict[str, str]:
    """``field`` (account language) + ``translations["<field><lang>"]`` (tap-ticketmatic: namefr, nameen).

    HTML (event descriptions are rich text) is reduced to its text.
    """
    out: dict[str, str] = {}
    base = _text(_TAG.sub(" ", str(raw.get(field) or "")))
    if base:
        out[default_lang] = base
    translations = raw.get("translations") or {}
    if isinstance(translations, dict):
        for lang in LANGS:
            value = _text(_TAG.sub(" ", str(translations.get(f"{field}{lang}") or "")))
            if value and lang not in out:
                out[lang] = value
    return out


# -- events -----------------------------------------------------------------------------------------
def event(raw: dict[str, Any], ctx: MappingContext) -> list[dict[str, Any]]:
    """Title/description language maps, venue from the location lookup, prices, status, availability."""
    rec = dict(raw)
    rec["@_title"] = _lang_map(raw, "name")
    rec["@_description"] = _lang_map(raw, "description")
    rec["@_production"] = _id(raw.get("productionid"))
    rec["@_venue_id"] = _id(raw.get("locationid"))
    location = _lookup(raw, "locations", raw.get("locationid"))
    street = " ".join(p for p in (location.get("street1"), location.get("street2")) if p)
    rec["@_venue_address"] = {k: v for k, v in {
        "street": street, "postal_code": location.get("zip"), "city": location.get("city"),
        "country": (location.get("countrycode") or "").upper() or None}.items() if v}
    rec["@_prices"] = _event_prices(raw)
    rec["@_capacity"] = sum(int(c.get("amount") or 0) for c in raw.get("contingents") or [] if isinstance(c, dict)) \
        or None
    rec["@_status"] = "cancelled" if _is_cancelled(raw) else "scheduled"
    rec["@_availability"] = _availability(raw)
    rec["@_yesplan"] = _text(raw.get("c_ypid"))
    return [rec]


def _is_cancelled(raw: dict[str, Any]) -> bool:
    # Ticketmatic has no cancelled status code; houses flag it in a custom field or in the name.
    flag = raw.get("c_cancelled")
    if flag in (True, 1, "1", "true", "ja"):
        return True
    return bool(_CANCELLED_NAME.match(str(raw.get("name") or "")))


def _availability(raw: dict[str, Any]) -> str | None:
    status = raw.get("currentstatus")
    if status in (EVENT_DRAFT, EVENT_CLOSED):
        return "unavailable"
    rows = [a for a in raw.get("availability") or [] if isinstance(a, dict)]
    total = sum(int(a.get("total") or 0) for a in rows)
    if not total:
        return None
    free = sum(int(a.get("free") or 0) for a in rows)
    if free <= 0:
        return "sold_out"
    return "limited" if free / total < 0.1 else "available"


def _event_prices(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One price per price type: the first sales channel's price (EventPrices > contingents > pricetypes)."""
    seen: dict[str, dict[str, Any]] = {}
    prices = raw.get("prices") or {}
    for contingent in prices.get("contingents") or [] if isinstance(prices, dict) else []:
        for pricetype in contingent.get("pricetypes") or []:
            ptid = _id(pricetype.get("pricetypeid"))
            channels = pricetype.get("saleschannels") or []
            if not ptid or ptid in seen or not channels:
                continue
            amount = channels[0].get("price")
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                raise MappingError(f"prices: price of pricetype {ptid} is {amount!r}, not a number")
            name = _text(_lookup(raw, "pricetypes", ptid).get("name"))
            seen[ptid] = {"name": {"nl": name} if name else None, "amount": float(amount), "currency": "EUR"}
    out = []
    for index, price in enumerate(seen.values()):
        price["category"] = "base" if index == 0 else "tariff"
        out.append({k: v for k, v in price.items() if v is not None})
    return out


# -- contacts ---------------------------------------------------------------------------------------
def contact(raw: dict[str, Any], ctx: MappingContext) -> list[dict[str, Any]]:
    """Phones, the first address, language and opt-ins as consents."""
    rec = dict(raw)
    rec["@_phones"] = [p.get("number") for p in raw.get("phonenumbers") or [] if isinstance(p, dict)]
    address = next((a for a in raw.get("addresses") or [] if isinstance(a, dict)), {})
    street = " ".join(str(p) for p in (address.get("street1"), address.get("street2"), address.get("street3")) if p)
    rec["@_address"] = {k: v for k, v in {
        "street": street, "postal_code": address.get("zip"), "city": address.get("city"),
        "country": (address.get("countrycode") or "").upper() or None}.items() if v}
    lang = str(raw.get("languagecode") or "").strip().lower()[:2]
    rec["@_language"] = lang if lang in LANGS else None
    rec["@_consents"] = _consents(raw)
    return [rec]


def _consents(raw: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for optin in raw.get("optins") or []:
        if not isinstance(optin, dict) or optin.get("status") not in (OPTIN_IN, OPTIN_OUT):
            continue  # 7601 Unknown: the contact never answered
        entry: dict[str, Any] = {"channel": "email", "purpose": f"optin:{optin.get('optinid')}",
                                 "granted": optin["status"] == OPTIN_IN, "source": "ticketmatic optin"}
        if optin.get("lastupdatets"):
            try:
                entry["at"] = parse_tm_time(optin["lastupdatets"]).strftime("%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                raise MappingError(f"optins: lastupdatets {optin['lastupdatets']!r} is not a timestamp") from None
        out.append(entry)
    return out


# -- orders -> tickets ------------------------------------------------------------------------------
def order(raw: dict[str, Any], ctx: MappingContext) -> list[dict[str, Any]]:
    """Per ticket: canonical status, holder (else buyer), price type and channel names."""
    rec = dict(raw)
    status = raw.get("status")
    channel = _lookup(raw, "saleschannels", raw.get("saleschannelid")).get("name")
    rec["@_channel"] = _text(channel) or _id(raw.get("saleschannelid"))
    buyer = _id(raw.get("customerid"))
    tickets = []
    for ticket in raw.get("tickets") or []:
        if not isinstance(ticket, dict):
            tickets.append(ticket)
            continue
        item = dict(ticket)
        item["@_status"] = _ticket_status(status, ticket)
        item["@_contact"] = _id(ticket.get("ticketholderid")) or buyer
        name = _lookup(raw, "pricetypes", ticket.get("pricetypeid")).get("name")
        item["@_pricetype"] = _text(name) or _id(ticket.get("pricetypeid"))
        tickets.append(item)
    rec["tickets"] = tickets
    return [rec]


def _ticket_status(order_status: Any, ticket: dict[str, Any]) -> str:
    if order_status == ORDER_ARCHIVED:
        return "cancelled"  # archived = removed/expired order: its tickets went back to the pool
    if order_status == ORDER_UNCONFIRMED:
        return "reserved"
    if order_status != ORDER_CONFIRMED:
        raise MappingError(f"unknown order status {order_status!r} (known: 21001, 21002, 21003)")
    # OrderTicket.cachedaccesscontrolstatus: 0 not scanned, 1 entered, 2 exited (EventTicket doc).
    return "scanned" if ticket.get("cachedaccesscontrolstatus") in (1, 2) else "sold"
