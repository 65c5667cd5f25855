"""The raw archive: local folder and S3 (moto_server on loopback), read back, retention."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from podium.archive import Archive


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_local_archive_layout_roundtrip_and_retention(tmp_path: Path, today: date) -> None:
    archive = Archive((tmp_path / "archive").as_uri(), retention_days=30)
    uri = archive.put("cc-hasselt", "ticketmatic", "orders", "run-1", 3, "json", b'{"data": []}')
    assert uri is not None and uri.endswith("/cc-hasselt/ticketmatic/orders/"
                                            f"{today.isoformat()}/run-1/00003.json.gz")
    assert archive.get(uri) == b'{"data": []}'
    assert gzip.decompress(Path(uri.removeprefix("file://")).read_bytes()) == b'{"data": []}'
    old_day = today - timedelta(days=45)
    old = tmp_path / "archive" / "cc-hasselt" / "ticketmatic" / "orders" / old_day.isoformat() / "run-0"
    old.mkdir(parents=True)
    (old / "00000.json.gz").write_bytes(gzip.compress(b"{}"))
    assert archive.prune() == 1
    assert not old.parent.exists() and archive.get(uri)


def test_s3_archive_against_moto_server(s3_endpoint: str, today: date) -> None:
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="podium-archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    archive = Archive("s3://podium-archive/raw", retention_days=10, s3_client=client)
    uri = archive.put("gc-de-kring", "cdbxml", "events", "run-9", 0, "xml", b"<cdbxml/>")
    assert uri == f"s3://podium-archive/raw/gc-de-kring/cdbxml/events/{today.isoformat()}/run-9/00000.xml.gz"
    assert archive.get(uri) == b"<cdbxml/>"
    stale = f"raw/gc-de-kring/cdbxml/events/{(today - timedelta(days=11)).isoformat()}/run-1/00000.xml.gz"
    client.put_object(Bucket="podium-archive", Key=stale, Body=gzip.compress(b"<old/>"))
    assert archive.prune() == 1
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="podium-archive")["Contents"]]
    assert keys == [uri.removeprefix("s3://podium-archive/")]


def test_archive_from_environment_for_s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s3_client(s3_endpoint).create_bucket(Bucket="env-archive",
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    monkeypatch.setenv("PODIUM_ARCHIVE_URL", "s3://env-archive")
    monkeypatch.setenv("PODIUM_ARCHIVE_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    archive = Archive()
    uri = archive.put("h", "c", "s", "r", 1, "csv", b"a,b\n")
    assert uri and uri.startswith("s3://env-archive/h/c/s/") and archive.get(uri) == b"a,b\n"


def test_a_streams_pages_are_listed_by_day_run_and_sequence_and_any_gzip_level_reads(tmp_path: Path,
                                                                                      today: date) -> None:
    archive = Archive((tmp_path / "archive").as_uri())
    for run_id, seq in (("run-b", 1), ("run-b", 0), ("run-a", 10), ("run-a", 2)):
        archive.put("cc-hasselt", "ticketmatic", "orders", run_id, seq, "json", f'{{"seq": {seq}}}'.encode())
    archive.put("cc-hasselt", "ticketmatic", "events", "run-a", 0, "json", b"{}")  # another stream: not listed
    older = tmp_path / "archive" / "cc-hasselt" / "ticketmatic" / "orders" / "2020-01-01" / "run-z" / "00000.json.gz"
    older.parent.mkdir(parents=True)
    older.write_bytes(gzip.compress(b'{"written": "at level 5"}', compresslevel=5))  # pages archived before
    (older.parent / "00001.json.gz").write_bytes(gzip.compress(b'{"written": "at level 1"}', compresslevel=1))
    (older.parent / "00002.json.tmp").write_bytes(b"half written")  # a write cut short: not a page

    pages = archive.pages("cc-hasselt", "ticketmatic", "orders")

    assert [(p.day, p.run_id, p.seq) for p in pages] == [
        ("2020-01-01", "run-z", 0), ("2020-01-01", "run-z", 1),
        *((today.isoformat(), r, s) for r, s in (("run-a", 2), ("run-a", 10), ("run-b", 0), ("run-b", 1)))]
    assert archive.get(pages[0].uri) == b'{"written": "at level 5"}'
    assert archive.get(pages[1].uri) == b'{"written": "at level 1"}'
    assert archive.get(pages[3].uri) == b'{"seq": 10}'
    # Written by ISA-L's deflate: plain gzip that any reader (the standard library's here) takes.
    assert gzip.decompress(Path(pages[2].uri.removeprefix("file://")).read_bytes()) == b'{"seq": 2}'
    assert archive.pages("cc-hasselt", "ticketmatic", "contacts") == []


def test_s3_pages_are_listed_in_order(s3_endpoint: str, today: date) -> None:
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="listing", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    archive = Archive("s3://listing/raw", s3_client=client)
    for seq in (3, 1, 2):
        archive.put("gc-de-kring", "cdbxml", "events", "run-1", seq, "xml", b"<page/>")
    pages = archive.pages("gc-de-kring", "cdbxml", "events")
    assert [p.seq for p in pages] == [1, 2, 3] and all(archive.get(p.uri) == b"<page/>" for p in pages)


def test_a_page_read_again_unchanged_is_a_link_to_the_earlier_runs_file(
        tmp_path: Path, today: date, monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-change re-read writes no page again: each is a hard link to the latest earlier run's file at
    the same place, found equal byte for byte; a changed page is written; pruning the older day keeps it."""
    from podium import clock

    def file(uri: str | None) -> Path:
        assert uri is not None
        return Path(uri.removeprefix("file://"))

    pages = [b'{"data": [{"id": %d, "name": "page %d"}]}' % (seq, seq) for seq in range(4)]
    monkeypatch.setenv(clock.ENV, (today - timedelta(days=40)).isoformat())
    first = [Archive((tmp_path / "archive").as_uri()).put("h", "tm", "orders", "run-1", seq, "json", page)
             for seq, page in enumerate(pages)]
    monkeypatch.setenv(clock.ENV, today.isoformat())
    archive = Archive((tmp_path / "archive").as_uri(), retention_days=30)  # the next process
    incremental = archive.put("h", "tm", "orders", "run-2", 0, "json", b'{"data": []}')
    served = [pages[0], pages[1], b'{"data": [{"id": 9}]}', pages[3]]
    again = [archive.put("h", "tm", "orders", "run-3", seq, "json", page) for seq, page in enumerate(served)]

    # Page 0 is compared with the incremental run's (the latest run that has a page 0): different, written.
    assert not file(again[0]).samefile(file(incremental)) and not file(again[0]).samefile(file(first[0]))
    assert file(again[1]).samefile(file(first[1])) and file(again[3]).samefile(file(first[3]))
    assert not file(again[2]).samefile(file(first[2]))
    assert [archive.get(uri) for uri in again] == served
    assert archive.prune() == 1 and not file(first[1]).exists()
    assert [archive.get(uri) for uri in again] == served
    assert [p.run_id for p in archive.pages("h", "tm", "orders")] == ["run-2", *["run-3"] * 4]


def test_a_secret_registered_since_the_earlier_run_is_masked_in_the_page_read_again(
        tmp_path: Path, today: date) -> None:
    from podium.secrets import register_secret

    page = b'{"data": [{"id": 1, "link": "/next?key=late-registered-key-77"}]}'
    archive = Archive((tmp_path / "archive").as_uri())
    earlier = archive.put("h", "tm", "orders", "run-1", 0, "json", page)
    register_secret("late-registered-key-77")
    again = archive.put("h", "tm", "orders", "run-2", 0, "json", page)
    assert earlier and again and not Path(again.removeprefix("file://")).samefile(earlier.removeprefix("file://"))
    assert archive.get(again) == b'{"data": [{"id": 1, "link": "/next?key=***"}]}'
