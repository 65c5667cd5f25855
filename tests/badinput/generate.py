"""Write the bad-input corpus (``python tests/badinput/generate.py``) from the golden inputs and the
Ticketmatic sandbox seed, and ``cases.json``: file -> [connector, stream, exit code, good records at
least, rejected records]. Each poisoned document is a clean one with one bad record (or one bad whole).
"""

from __future__ import annotations

import codecs
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ROOMS = REPO / "connectors"  # each vendor's golden cases live in connectors/<vendor>/golden/
sys.path.insert(0, str(REPO))

from connectors.ticketmatic.sandbox import TicketmaticSandbox  # noqa: E402
from connectors.uwp.data import build_drop  # noqa: E402
from podium.engine import map_document  # noqa: E402

SOAP_FAULT = (ROOMS / "recreatex" / "golden" / "fixtures" / "fault_invalid_shopid.xml").read_bytes()
cases: dict[str, list[Any]] = {}


def write(name: str, connector: str, stream: str, body: bytes, *, bad: int = 0, whole_bad: bool = False) -> None:
    """Write one file; expectations follow from the clean document's result plus ``bad`` records."""
    (HERE / name).parent.mkdir(parents=True, exist_ok=True)
    (HERE / name).write_bytes(body)
    if whole_bad:
        cases[name] = [connector, stream, 3, 0, 0]
        return
    records, dead = map_document(connector, stream, body)
    assert len(dead) >= bad, (name, [d.reason for d in dead])
    cases[name] = [connector, stream, 3 if dead else 0, len(records), len(dead)]


def json_cases(connector: str, stream: str, page: Any, key: str | None, spoil: dict[str, Any]) -> None:
    """``key``: where the page's records are (None: the page is a bare array of records)."""
    clean = json.dumps(page, ensure_ascii=False).encode()
    write(f"{connector}/{stream}-clean.json", connector, stream, clean)
    write(f"{connector}/{stream}-bom.json", connector, stream, codecs.BOM_UTF8 + clean)
    for name, change in spoil.items():
        doc = copy.deepcopy(page)
        change(_records(doc, key)[0])
        body = json.dumps(doc, ensure_ascii=False).encode()
        for marker, bytes_ in {b"@@SURROGATE@@": b"\\ud83d", b"@@BADUTF8@@": b"\xff\xfe",
                               b"@@NUL@@": b"\\u0000"}.items():
            body = body.replace(marker, bytes_)
        write(f"{connector}/{stream}-{name}.json", connector, stream, body, bad=1)
    doc = copy.deepcopy(page)
    _records(doc, key).insert(1, "not an object")
    write(f"{connector}/{stream}-record-not-an-object.json", connector, stream,
          json.dumps(doc).encode(), bad=1)
    write(f"{connector}/{stream}-truncated.json", connector, stream, clean[: len(clean) // 2], whole_bad=True)
    write(f"{connector}/{stream}-malformed.json", connector, stream, clean.replace(b":", b";", 3), whole_bad=True)
    bomb = b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"
    write(f"{connector}/{stream}-nesting-bomb.json", connector, stream,
          bomb if key is None else b'{"' + key.encode() + b'": ' + bomb + b"}", whole_bad=True)
    write(f"{connector}/{stream}-soap-fault.json", connector, stream, SOAP_FAULT, whole_bad=True)


def _records(doc: Any, key: str | None) -> list[Any]:
    """The record list at a dotted key (``member``, ``_embedded.item``); None: the page is a bare array."""
    if key is None:
        return doc  # type: ignore[no-any-return]
    node: Any = doc
    for part in key.split("."):
        node = node[part]
    return node  # type: ignore[no-any-return]


def flexmail() -> None:
    page = json.loads((ROOMS / "flexmail" / "golden" / "contacts.manifest-list-page.input.json").read_text())
    json_cases("flexmail", "contacts", page, "_embedded.item", {
        **{name: setter("name", text) for name, text in STRINGS.items()},
        "id-missing": lambda c: c.pop("id"),
    })


def setter(field: str, value: Any) -> Any:
    return lambda record: record.__setitem__(field, value)


def deep(levels: int) -> Any:
    node: Any = "bottom"
    for _ in range(levels):
        node = [node]
    return node


STRINGS = {"lone-surrogate": "Hamlet @@SURROGATE@@", "invalid-utf8": "Hamlet @@BADUTF8@@", "nul": "Ham @@NUL@@ let"}


def ticketmatic() -> None:
    data = TicketmaticSandbox().data("corpus")
    events = {"data": copy.deepcopy(data["events"][:6])}
    json_cases("ticketmatic", "events", events, "data", {
        **{name: setter("name", text) for name, text in STRINGS.items()},
        "contingents-wrong-type": lambda e: e["prices"].__setitem__("contingents", "none"),
        "nested-300-deep": setter("unmapped", deep(300)),
    })
    contacts = {"data": copy.deepcopy([c for c in data["contacts"] if c["addresses"]][:6])}
    json_cases("ticketmatic", "contacts", contacts, "data", {
        "countrycode-integer": lambda c: c["addresses"][0].__setitem__("countrycode", 32),
        "lone-surrogate": setter("lastname", STRINGS["lone-surrogate"]),
    })


def uitdatabank() -> None:
    examples = json.loads((ROOMS / "uitdatabank" / "golden" / "events.sandbox-events.input.json").read_text())["member"]
    page = {"member": examples}

    json_cases("uitdatabank", "events", page, "member", {
        **{name: lambda e, t=text: e["name"].__setitem__("nl", t) for name, text in STRINGS.items()},
        "subevent-wrong-type": lambda e: e.update(calendarType="multiple", subEvent=["none"]),
    })


def tixly() -> None:
    sales = json.loads((ROOMS / "tixly" / "golden" / "sales.window-page.input.json").read_text())
    json_cases("tixly", "sales", sales, "Data", {
        **{name: setter("TicketType", text) for name, text in STRINGS.items()},
        "price-not-a-number": setter("Price", "gratis"),
        "nested-300-deep": setter("Unmapped", deep(300)),
    })
    customers = json.loads((ROOMS / "tixly" / "golden" / "customers.sandbox-page.input.json").read_text())
    json_cases("tixly", "customers", customers, "Data", {
        "lone-surrogate": setter("LastName", STRINGS["lone-surrogate"]),
        "country-unknown": setter("Country", "Atlantis"),
    })


def uitpas() -> None:
    sales = json.loads((ROOMS / "uitpas" / "golden" / "ticket_sales.sandbox-kansentarief.input.json").read_text())
    json_cases("uitpas", "ticket_sales", sales, "member", {
        **{name: setter("eventTitle", text) for name, text in STRINGS.items()},
        "tariff-price-text": lambda sale: sale["tariff"].__setitem__("price", "gratis"),
        "nested-300-deep": setter("unmapped", deep(300)),
    })
    holders = json.loads((ROOMS / "uitpas" / "golden" / "passholders.sandbox-page.input.json").read_text())
    json_cases("uitpas", "passholders", holders, "member", {
        "lone-surrogate": setter("name", STRINGS["lone-surrogate"]),
        "birth-date-not-a-date": setter("dateOfBirth", "31/02/2001"),
    })


def yesplan() -> None:
    page = json.loads((ROOMS / "yesplan" / "golden" / "events.page.input.json").read_text())
    json_cases("yesplan", "events", page, "data", {
        **{name: setter("name", text) for name, text in STRINGS.items()},
        "nested-300-deep": setter("unmapped", deep(300)),
    })


def kunstenpunt() -> None:
    golden = ROOMS / "kunstenpunt" / "golden"
    shows = json.loads((golden / "podiumvoorstellingen.sandbox-list.input.json").read_text())
    json_cases("kunstenpunt", "podiumvoorstellingen", shows, None, {
        **{name: setter("productie_titel", text) for name, text in STRINGS.items()},
        "datum-not-a-date": setter("datum", "volgende week"),
    })
    people = json.loads((golden / "organiteiten.staging-2017-expected.input.json").read_text())[:6]
    json_cases("kunstenpunt", "organiteiten", people, None, {
        "lone-surrogate": setter("toonnaam", STRINGS["lone-surrogate"]),
        "nameless-person": lambda person: person.update(toonnaam=None, geboortejaar=None),
    })


def xml_variants(connector: str, stream: str, clean: bytes, first_text: bytes, record: re.Pattern[bytes]) -> None:
    """``first_text``: a text in the first record only, where a bad character goes."""
    write(f"{connector}/{stream}-clean.xml", connector, stream, clean)
    write(f"{connector}/{stream}-bom.xml", connector, stream, codecs.BOM_UTF8 + clean)
    for name, bad in {"nul": b"\x00", "invalid-utf8": b"\xff\xfe", "control-char": b"\x07",
                      "charref-nul": b"&#0;", "charref-surrogate": b"&#xD83D;"}.items():
        assert clean.count(first_text) >= 1
        write(f"{connector}/{stream}-{name}.xml", connector, stream,
              clean.replace(first_text, first_text[:2] + bad + first_text[2:], 1), bad=1)
    write(f"{connector}/{stream}-truncated.xml", connector, stream, clean[: len(clean) // 2], whole_bad=True)
    write(f"{connector}/{stream}-csv-given.xml", connector, stream, b"id,name\n1,Hamlet\n", whole_bad=True)
    write(f"{connector}/{stream}-json-given.xml", connector, stream, b'{"data": []}', whole_bad=True)
    latin = clean.replace(b"encoding='utf-8'", b"encoding='windows-1252'").replace(
        b'encoding="UTF-8"', b'encoding="windows-1252"')
    if latin != clean:
        match = record.search(clean)
        assert match
        write(f"{connector}/{stream}-cp1252-declared.xml", connector, stream,
              latin.replace(first_text, first_text[:2] + "é".encode("cp1252") + first_text[2:], 1))


def cdbxml() -> None:
    sample = (ROOMS / "cdbxml" / "golden" / "events.event.input.xml").read_bytes()
    match = re.search(rb"<event .*?</event>", sample, re.S)
    assert match
    event = match.group()
    cdbid = re.search(rb'cdbid="([^"]+)"', event).group(1)  # type: ignore[union-attr]
    copies = [event.replace(cdbid, cdbid[:-3] + b"%03d" % index) for index in range(1, 4)]
    clean = sample.replace(event, b"\n".join(copies))
    title = re.search(rb"<title>([^<]{4,})</title>", copies[0]).group(1)  # type: ignore[union-attr]
    xml_variants("cdbxml", "events", clean, title, re.compile(rb"<event "))


def recreatex() -> None:
    clean = (ROOMS / "recreatex" / "golden" / "culture_events.response.input.xml").read_bytes()
    code = re.search(rb"<Code>([^<]{4,})</Code>", clean).group(1)  # type: ignore[union-attr]
    xml_variants("recreatex", "culture_events", clean, code, re.compile(rb"<CultureEvent>"))
    write("recreatex/culture_events-soap-fault.xml", "recreatex", "culture_events", SOAP_FAULT, whole_bad=True)


def uwp() -> None:
    text = build_drop("corpus", activities=6)["activiteit_results.csv"].render().decode("utf-8-sig")
    header, first, *rest = text.splitlines(keepends=True)[:7]
    body = "".join([header, first, *rest]).encode()
    write("uwp/activiteiten-clean.csv", "uwp", "activiteiten", body)
    write("uwp/activiteiten-bom.csv", "uwp", "activiteiten", codecs.BOM_UTF8 + body)
    field = next(f for f in first.split(",") if len(f) > 4 and not f[:1].isdigit())
    for name, bad in {"nul": b"\x00", "invalid-utf8": b"\xff\xfe"}.items():
        spoiled = first.encode().replace(field.encode(), field.encode()[:2] + bad + field.encode()[2:], 1)
        write(f"uwp/activiteiten-{name}.csv", "uwp", "activiteiten",
              (header + "".join(rest)).encode() + spoiled, bad=1)
    write("uwp/activiteiten-short-row.csv", "uwp", "activiteiten", body + b"only,three,fields\n", bad=1)
    try:
        latin = body.decode().encode("cp1252")
        write("uwp/activiteiten-cp1252.csv", "uwp", "activiteiten", latin)
    except UnicodeEncodeError:
        pass
    write("uwp/activiteiten-xml-given.csv", "uwp", "activiteiten", SOAP_FAULT, whole_bad=True)


if __name__ == "__main__":
    for build in (ticketmatic, tixly, uitdatabank, uitpas, yesplan, kunstenpunt, cdbxml, recreatex, uwp,
                  flexmail):
        build()
    (HERE / "cases.json").write_text(json.dumps(dict(sorted(cases.items())), indent=1) + "\n")
    print(f"{len(cases)} files")
