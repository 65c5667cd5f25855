"""Transport faults between connector and vendor, injected by ``podium.testing.faults.FaultProxy``.

A sync through the proxy either ends with exactly the store a fault-free sync gives, or fails with
its state not moved past data it did not store, so that the next fault-free sync reaches that
same store. Retries are made fast (no sleeping) and client timeouts short, through the connector's
own retry policy and ``timeouts`` declarations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from tenacity import Retrying

from podium.archive import Archive
from podium.config import ConnectorConfig, HouseConfig
from podium.engine import SyncReport, run_sync
from podium.errors import BadDataError, VendorDownError, classify
from podium.parsing.json import JsonRecords
from podium.sandbox import Request, Response, Sandbox
from podium.sdk import HttpClient, OAuth2ClientCredentials, retrying
from podium.sdk.connector import Connector
from podium.store import Store
from podium.testing.faults import Fault, FaultPlan, FaultProxy

HOUSE = "cc-faults"
READ_TIMEOUT = 1.0  # short, yet far above a loopback sandbox answer even on a busy CI machine


def fast_retry(max_attempts: int = 5) -> Retrying:
    return retrying(max_attempts=max_attempts, sleep=lambda seconds: None)


@pytest.fixture(autouse=True)
def _fast_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connector retries without sleeping and gives up on a stalled read quickly."""
    from connectors.uwp.connector import UwpConnector

    monkeypatch.setattr(Connector, "timeouts", (2.0, READ_TIMEOUT))
    monkeypatch.setattr(Connector, "retry_policy", lambda self: fast_retry())
    monkeypatch.setattr(UwpConnector, "retry_policy", lambda self: fast_retry())


# -- the proxy itself ----------------------------------------------------------------------------------
class PageSandbox(Sandbox):
    """One JSON page, and a token endpoint."""

    name = "page"
    rate_limit_requests = 10_000

    def route(self, request: Request) -> Response:
        if request.path == "/token":
            return Response.json({"access_token": "tok-1", "expires_in": 3600})
        return Response.json({"data": [{"id": i, "name": f"record {i}"} for i in range(50)]})


@pytest.fixture
def page_sandbox() -> Iterator[PageSandbox]:
    with PageSandbox() as sandbox:
        yield sandbox


@pytest.mark.parametrize("fault,broken", [
    (Fault.RESET, requests.ConnectionError),
    (Fault.TRUNCATE, requests.exceptions.ChunkedEncodingError),
    (Fault.STALL, requests.ConnectionError),  # ReadTimeout is a ConnectionError's sibling: both below
])
def test_each_transfer_fault_breaks_the_answer_as_vendors_do(page_sandbox: PageSandbox, fault: Fault,
                                                             broken: type[Exception]) -> None:
    with FaultProxy(page_sandbox.url, FaultPlan.at({1: fault})) as proxy:
        with pytest.raises((broken, requests.Timeout)):
            requests.get(f"{proxy.url}/x", timeout=(2, READ_TIMEOUT))
        assert requests.get(f"{proxy.url}/x", timeout=5).json()["data"][49]["id"] == 49  # request 2: clean


def test_status_faults_and_a_cut_body_under_a_matching_length(page_sandbox: PageSandbox) -> None:
    plan = FaultPlan.at({1: Fault.SERVER_ERROR, 2: Fault.RATE_LIMITED, 3: Fault.TRUNCATE_MATCHING})
    with FaultProxy(page_sandbox.url, plan, retry_after=3) as proxy:
        assert requests.get(f"{proxy.url}/x", timeout=5).status_code == 503
        limited = requests.get(f"{proxy.url}/x", timeout=5)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        cut = requests.get(f"{proxy.url}/x", timeout=5)
        assert cut.status_code == 200  # "complete" by its headers, but not a whole document
        with pytest.raises(ValueError):
            json.loads(cut.content)
        assert [s.fault for s in proxy.faults()] == [Fault.SERVER_ERROR, Fault.RATE_LIMITED, Fault.TRUNCATE_MATCHING]


@pytest.mark.parametrize("fault", list(Fault))
def test_http_client_fetches_a_page_again_after_any_fault(page_sandbox: PageSandbox, fault: Fault) -> None:
    with FaultProxy(page_sandbox.url, FaultPlan.at({1: fault, 2: fault})) as proxy:
        client = HttpClient(proxy.url, retry=fast_retry(), timeout=(2, READ_TIMEOUT))
        _, document = client.get_document("/x", JsonRecords("data").load)
    assert len(document["data"]) == 50
    assert client.requests_sent == 3


@pytest.mark.parametrize("fault,error,error_class", [
    (Fault.TRUNCATE, VendorDownError, "vendor_down"),
    (Fault.RESET, VendorDownError, "vendor_down"),
    (Fault.STALL, VendorDownError, "vendor_down"),
    (Fault.TRUNCATE_MATCHING, BadDataError, "bad_data"),
])
def test_a_fault_that_outlasts_the_retries_is_classified_never_internal(
        page_sandbox: PageSandbox, fault: Fault, error: type[Exception], error_class: str) -> None:
    with FaultProxy(page_sandbox.url, FaultPlan.from_request(1, fault)) as proxy:
        client = HttpClient(proxy.url, retry=fast_retry(max_attempts=3), timeout=(2, READ_TIMEOUT))
        with pytest.raises(error) as caught:
            client.get_document("/x", JsonRecords("data").load)
        assert len(proxy.seen) == 3
    assert classify(caught.value) == error_class


def test_raw_transport_exceptions_are_vendor_down_in_the_one_table() -> None:
    import http.client

    import botocore.exceptions
    import urllib3.exceptions

    for exc in (urllib3.exceptions.IncompleteRead(10, 20), urllib3.exceptions.ProtocolError("cut"),
                requests.exceptions.ChunkedEncodingError("cut"), requests.exceptions.ContentDecodingError("gz"),
                http.client.IncompleteRead(b"x", 10), botocore.exceptions.ResponseStreamingError(error="cut"),
                botocore.exceptions.IncompleteReadError(actual_bytes=1, expected_bytes=2)):
        assert classify(exc) == "vendor_down", type(exc).__name__
    assert classify(KeyError("a bug")) == "internal"


@pytest.mark.parametrize("fault", [Fault.TRUNCATE, Fault.TRUNCATE_MATCHING, Fault.RESET, Fault.SERVER_ERROR])
def test_oauth_token_answer_cut_or_unreadable_is_retried(page_sandbox: PageSandbox, fault: Fault) -> None:
    with FaultProxy(page_sandbox.url, FaultPlan.at({1: fault})) as proxy:
        auth = OAuth2ClientCredentials(f"{proxy.url}/token", "client", "s3cr3t-value", retry=fast_retry(),
                                       timeout=(2, READ_TIMEOUT))
        assert auth.token() == "tok-1"
        assert len(proxy.seen) == 2


def test_oauth_token_endpoint_that_stays_broken_is_vendor_down_not_internal(page_sandbox: PageSandbox) -> None:
    with FaultProxy(page_sandbox.url, FaultPlan.from_request(1, Fault.TRUNCATE_MATCHING)) as proxy:
        auth = OAuth2ClientCredentials(f"{proxy.url}/token", "client", "s3cr3t-value",
                                       retry=fast_retry(max_attempts=3))
        with pytest.raises(VendorDownError, match="not a JSON object") as caught:
            auth.token()
    assert classify(caught.value) == "vendor_down"
    assert "s3cr3t-value" not in str(caught.value)


def test_a_stalled_vendor_is_given_up_on_after_the_declared_read_timeout(page_sandbox: PageSandbox) -> None:
    # The read timeout, not the vendor, decides how long a worker slot is held: the stall (60 s here)
    # ends as a retried, then classified, failure long before the vendor would answer.
    with FaultProxy(page_sandbox.url, FaultPlan.from_request(1, Fault.STALL), stall_seconds=60) as proxy:
        client = HttpClient(proxy.url, retry=fast_retry(max_attempts=2), timeout=(2, READ_TIMEOUT))
        with pytest.raises(VendorDownError, match="stalled"):
            client.get("/x")
        assert len(proxy.seen) == 2


def test_every_connector_declares_timeouts_that_free_a_stalled_worker() -> None:
    from podium.registry import all_connectors

    for name, cls in all_connectors().items():
        connect, read = cls.timeouts
        assert 0 < connect <= 10 and 0 < read <= 30, f"{name}: timeouts {cls.timeouts}"


# -- whole syncs through the proxy -----------------------------------------------------------------------
@dataclass
class Vendor:
    """How to run one connector against its sandbox through a proxy."""

    connector: str
    sandbox: Callable[[], Any]
    settings: Callable[[str, Any], dict[str, Any]]  # (proxy url, sandbox) -> settings + secrets


def _recreatex_shop() -> str:
    from connectors.recreatex.sandbox import RecreatexSandbox

    return RecreatexSandbox.shop_id_for(HOUSE)


def _vendors() -> list[Vendor]:
    from connectors.cdbxml.sandbox import CdbXmlSandbox
    from connectors.flexmail.sandbox import FlexmailSandbox
    from connectors.kunstenpunt.sandbox import KunstenpuntSandbox
    from connectors.mailchimp.sandbox import MailchimpSandbox
    from connectors.recreatex.sandbox import RecreatexSandbox
    from connectors.ticketmatic.sandbox import TicketmaticSandbox
    from connectors.tixly.sandbox import TixlySandbox
    from connectors.uitdatabank.sandbox import UitdatabankSandbox
    from connectors.uitpas.sandbox import TOKEN_PATH, UitpasSandbox
    from connectors.uwp.sandbox import UwpSandbox
    from connectors.yesplan.sandbox import YesplanSandbox

    return [
        Vendor("ticketmatic", lambda: TicketmaticSandbox(events=12, contacts=20, orders=25),
               lambda url, box: {"account": box.account, "base_url": url, "page_size": 6,
                                 "requests_per_second": 1000, "access_key": box.access_key,
                                 "secret_key": box.secret_key}),
        Vendor("tixly", lambda: TixlySandbox(customers=20, orders=25),
               lambda url, box: {"base_url": f"{url}/v3", "auth_token": box.token, "page_size": 6,
                                 "sales_start": (box.today - timedelta(days=270)).isoformat(),
                                 "requests_per_second": 1000}),
        Vendor("uitdatabank", lambda: UitdatabankSandbox(events=30),
               lambda url, box: {"search_base_url": url, "token_url": f"{url}/oauth/token", "page_size": 7,
                                 "requests_per_second": 1000, "client_id": "podium-demo",
                                 "client_secret": box.client_secret}),
        Vendor("uitpas", lambda: UitpasSandbox(passholders=5),
               lambda url, box: {"base_url": url, "search_base_url": url, "token_url": f"{url}{TOKEN_PATH}",
                                 "organizer_id": "gc-faults", "page_size": 2, "requests_per_second": 1000,
                                 "client_id": "podium-demo", "client_secret": box.client_secret}),
        Vendor("yesplan", lambda: YesplanSandbox(productions=4),
               lambda url, box: {"base_url": url, "api_key": box.api_key, "days_back": 30, "days_ahead": 365,
                                 "customdata_keywords": ["publicatie_genre"], "requests_per_second": 1000}),
        Vendor("recreatex", RecreatexSandbox,
               lambda url, box: {"base_url": url, "shop_id": _recreatex_shop(), "days_back": 800,
                                 "days_ahead": 800, "page_size": 10, "requests_per_second": 1000}),
        Vendor("cdbxml", lambda: CdbXmlSandbox(events_per_organiser=30),
               lambda url, box: {"base_url": url, "api_key": box.api_key, "page_length": 3,
                                 "requests_per_second": 1000}),
        Vendor("mailchimp", lambda: MailchimpSandbox(members=20),
               lambda url, box: {"base_url": f"{url}/3.0", "list_id": "1b724bb934", "page_size": 6,
                                 "requests_per_second": 1000, "api_key": box.api_key}),
        Vendor("kunstenpunt", lambda: KunstenpuntSandbox(productions=3, rate_limit=1000),
               lambda url, box: {"base_url": f"{url}/v1", "page_size": 6, "requests_per_second": 1000}),
        Vendor("flexmail", lambda: FlexmailSandbox(contacts=12, unsubscribed=1),
               lambda url, box: {"base_url": url, "page_size": 5, "requests_per_second": 1000,
                                 "account_id": "100001", "personal_access_token": box.token}),
        Vendor("uwp", lambda: UwpSandbox(activities=12, participants=20, participations=30, prefix=f"{HOUSE}/"),
               lambda url, box: {"bucket": box.bucket, "prefix": box.prefix, "endpoint_url": url, "chunk_rows": 8,
                                 "access_key_id": box.access_key_id, "secret_access_key": box.secret_access_key}),
    ]


VENDORS = {v.connector: v for v in _vendors()}


class Run:
    """One house × connector synced into fresh or kept stores, all through one proxy."""

    def __init__(self, vendor: Vendor, proxy: FaultProxy, sandbox: Any, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        from podium.registry import get_connector

        cls = get_connector(vendor.connector)
        config = vendor.settings(proxy.url, sandbox)
        secret_fields = cls.secret_fields()
        env = {}
        for name in secret_fields:
            if name in config:
                variable = f"PODIUM_CC_FAULTS__{name.upper()}"  # inside the house namespace
                monkeypatch.setenv(variable, str(config[name]))
                env[name] = variable
        settings = {k: v for k, v in config.items() if k not in secret_fields}
        if "bucket" in settings:  # the operator lets the house read its own prefix of the sandbox's bucket
            (tmp_path / "_fleet.yaml").write_text(f"s3_buckets: [{settings['bucket']}]\ns3_prefix: '{{house}}/'\n")
        self.house = HouseConfig(key=HOUSE, name="Faults", kind="cultuurcentrum", timezone="Europe/Brussels",
                                 connectors={cls.name: ConnectorConfig(cls.name, True, None, None, settings,
                                                                       {"env": env})},
                                 path=tmp_path / f"{HOUSE}.yaml")
        self.connector, self.proxy, self.tmp_path = cls.name, proxy, tmp_path

    def store(self, name: str) -> Store:
        store = Store(f"sqlite:///{self.tmp_path / name}.db")
        store.migrate()
        return store

    def sync(self, store: Store, plan: FaultPlan) -> SyncReport:
        self.proxy.use(plan)
        return run_sync(self.house, self.connector, store=store,
                        archive=Archive((self.tmp_path / "archive").as_uri()))


def snapshot(store: Store) -> tuple[list[dict[str, Any]], set[tuple[str, str | None, str]]]:
    """The stored records, and the dead letters by stream, source id and reason."""
    dead = {(d["stream"], d["source_id"], d["reason"]) for d in store.dead_letters(house=HOUSE)}
    return list(store.export()), dead


@pytest.fixture(params=sorted(VENDORS))
def vendor_run(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    vendor = VENDORS[request.param]
    sandbox = vendor.sandbox()
    sandbox.rate_limit_requests = 100_000  # the faults under test are the proxy's, not the vendor's budget
    sandbox.start()
    try:
        with FaultProxy(sandbox.url, stall_seconds=5) as proxy:
            yield Run(vendor, proxy, sandbox, tmp_path, monkeypatch)
    finally:
        sandbox.stop()


def _reference(run: Run) -> tuple[tuple[list[dict[str, Any]], set[Any]], int]:
    store = run.store("reference")
    report = run.sync(store, FaultPlan.none())
    assert report.status != "failed", report.as_dict()
    requests_needed = len(run.proxy.seen)
    expected = snapshot(store)
    store.dispose()
    assert expected[0], "the sandbox served nothing to compare"
    return expected, requests_needed


def test_a_sync_through_random_faults_ends_with_the_fault_free_store(vendor_run: Run) -> None:
    expected, _ = _reference(vendor_run)
    store = vendor_run.store("faulty")
    # Every request fails twice (random kinds, each kind once per six faults) before it gets through:
    # all six kinds come up in any sync of three requests or more, whatever the sandbox's data.
    report = vendor_run.sync(store, FaultPlan.seeded(20261201, rate=1.0, max_in_a_row=2))
    injected = {s.fault for s in vendor_run.proxy.faults()}
    assert report.status != "failed", report.as_dict()
    assert injected == set(Fault), f"not every fault kind was injected: {injected}"
    assert snapshot(store) == expected
    store.dispose()


@pytest.mark.parametrize("fault", [Fault.TRUNCATE_MATCHING, Fault.TRUNCATE, Fault.RESET])
def test_a_vendor_that_breaks_down_mid_sync_fails_it_without_passing_lost_data(vendor_run: Run, fault: Fault) -> None:
    expected, requests_needed = _reference(vendor_run)
    store = vendor_run.store("broken")
    report = vendor_run.sync(store, FaultPlan.from_request(max(2, requests_needed // 2), fault))
    _, error_class, _ = report.first_error()
    assert report.status == "failed" and error_class in ("vendor_down", "bad_data"), report.as_dict()
    records, dead = snapshot(store)
    assert not any(reason.startswith("decode:") and reason not in {d[2] for d in expected[1]}
                   for _, _, reason in dead), "an unreadable answer became a dead letter instead of a failure"
    assert len(records) < len(expected[0]) or requests_needed <= 2
    # The next sync, with the vendor back, reaches exactly the fault-free store: no cursor moved past
    # a record that was not stored.
    report = vendor_run.sync(store, FaultPlan.none())
    assert report.status != "failed", report.as_dict()
    assert snapshot(store) == expected
    store.dispose()


@pytest.mark.parametrize("fault", list(Fault))
def test_s3_listing_and_first_object_survive_every_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        fault: Fault) -> None:
    # Request 1 lists the drop (XML parsed inside botocore), request 2 is the first object body.
    vendor = VENDORS["uwp"]
    sandbox = vendor.sandbox()
    sandbox.start()
    try:
        with FaultProxy(sandbox.url, stall_seconds=5) as proxy:
            run = Run(vendor, proxy, sandbox, tmp_path, monkeypatch)
            expected, _ = _reference(run)
            store = run.store("faulty")
            report = run.sync(store, FaultPlan.at({1: fault, 2: fault, 4: fault}))
            assert report.status != "failed", report.as_dict()
            assert len(proxy.faults()) == 3
            assert snapshot(store) == expected
            store.dispose()
    finally:
        sandbox.stop()


def test_cdbxml_stops_after_pages_in_a_row_without_a_usable_record(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.cdbxml.connector import CdbXmlConnector
    from podium.parsing import RecordError
    from podium.sdk.connector import SyncContext

    conn = CdbXmlConnector({"base_url": "http://127.0.0.1:9", "api_key": "k" * 12, "page_length": 2},
                           SyncContext(house=HOUSE))
    served: list[int] = []

    def only_broken_records(params: dict[str, Any]) -> tuple[bytes, list[Any]]:
        served.append(params["page"])  # a total of a million, and nothing usable on any page
        return b"<cdbxml/>", [{"@_tag": "nofrecords", "#text": "1000000"},
                              RecordError("bad", None), RecordError("bad", None)]

    monkeypatch.setattr(conn, "_get", only_broken_records)
    with pytest.raises(BadDataError, match="3 pages in a row without a usable record"):
        list(conn.read("events", None))
    assert served == [1, 2, 3]


def test_recreatex_stops_after_pages_in_a_row_without_a_usable_record(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.recreatex.connector import RecreatexConnector
    from podium.sdk.connector import SyncContext

    conn = RecreatexConnector({"base_url": "http://127.0.0.1:9", "shop_id": _recreatex_shop(), "page_size": 2},
                              SyncContext(house=HOUSE))
    calls: list[int] = []

    class FullOfErrors:
        def call_decoded(self, operation: str, decode: Any, **parts: Any) -> tuple[Any, Any]:
            calls.append(1)
            return requests.Response(), ([], [("bad", None), ("bad", None)])

        def close(self) -> None:
            return None

    monkeypatch.setattr(conn, "_client", FullOfErrors())
    with pytest.raises(BadDataError, match="3 pages in a row without a usable record"):
        list(conn.read("persons", None))
    assert len(calls) == 3
