"""``podium``: the command line of Podium Hub.

Tables go to stdout and progress to stderr through rich. Machine output has one convention:
every ``--json`` option prints ONE JSON document (an array of objects, one per row) on stdout;
the record streams ``map`` and ``export`` print JSON lines (one canonical record per line) so that
they pipe into line tools. Errors go to stderr with a non-zero exit code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from podium.errors import BadDataError, ConfigError, PodiumError


def _width(stream: Any) -> int | None:
    """A terminal's own width; piped or captured output (CI logs, ``| less``) gets ``PODIUM_CLI_WIDTH``
    columns (default 180) instead of rich's 80."""
    return None if stream.isatty() else int(os.environ.get("PODIUM_CLI_WIDTH") or 180)


out = Console(width=_width(sys.stdout))
err = Console(stderr=True, width=_width(sys.stderr))


# `podium sync`: another sync of the same house × connector holds the lock (nothing was done).
EXIT_ALREADY_RUNNING = 4


def _fail(message: str, code: int = 2) -> None:
    err.print("[bold red]error:[/] " + escape(message), highlight=False)
    sys.exit(code)


def _store() -> Any:
    from podium.store import Store

    return Store.from_env()


def _json(rows: list[dict[str, Any]]) -> None:
    """The one ``--json`` convention: a JSON array of row objects on stdout."""
    click.echo(json.dumps(rows, indent=2, default=str, ensure_ascii=False))


@click.group()
@click.version_option(package_name="podium-hub", prog_name="podium", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Podium Hub: sync arts and culture houses' vendor systems into one canonical model."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from podium.secrets import install_log_redaction

    install_log_redaction()


@main.command("connectors")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def connectors_cmd(as_json: bool) -> None:
    """List the installed connectors, their versions, streams (with the document shapes each reads) and
    what orchestration they declare."""
    from podium.parsing import document_shapes
    from podium.registry import all_connectors

    rows: list[dict[str, Any]] = [{"name": name, "version": cls.version, "title": cls.title,
             "streams": [{"name": s.name, "entity": s.entity, "primary_key": s.primary_key, "cursor": s.cursor,
                          "shapes": [str(shape) for shape in document_shapes(s.decoder)]}
                         for s in cls.streams],
             "connection_type": cls.connection_type(), "schedule": cls.default_schedule,
             "pool_slots": cls.pool_slots}
            for name, cls in all_connectors().items()]
    if as_json:
        _json(rows)
        return
    table = Table(title="Installed connectors")
    for column in ("connector", "version", "streams → entity", "connection type", "schedule", "pool"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["version"], ", ".join(f"{s['name']} → {s['entity']}" for s in row["streams"]),
                      row["connection_type"], str(row["schedule"]), str(row["pool_slots"]))
    out.print(table)


@main.command("spec")
@click.argument("connector")
def spec_cmd(connector: str) -> None:
    """Print a connector's config schema (JSON Schema; secret fields carry "secret": true)."""
    from podium.registry import get_connector

    try:
        click.echo(json.dumps(get_connector(connector).config_spec, indent=2))
    except ConfigError as exc:
        _fail(str(exc))


def _load_house(house: str) -> Any:
    from podium.config import find_house

    try:
        return find_house(house)
    except ConfigError as exc:
        _fail(str(exc))


@main.command("check")
@click.option("--house", "house_ref", required=True, help="House config file (or key in PODIUM_HOUSES_DIR).")
@click.option("--connector", default=None, help="Only this connector.")
@click.option("--json", "as_json", is_flag=True, help="JSON output: one object per connector checked.")
def check_cmd(house_ref: str, connector: str | None, as_json: bool) -> None:
    """Validate a house config and prove each enabled connector's settings and credentials.

    Exit 0 all fine, 1 some connector failed its check, 2 the house config itself is wrong."""
    from podium.engine import build_connector
    from podium.secrets import redact

    house = _load_house(house_ref)
    names = [connector] if connector else [n for n, c in house.connectors.items() if c.enabled]
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            instance = build_connector(house, name)
            try:
                instance.check()
            finally:
                instance.close()
            rows.append({"house": house.key, "connector": name, "ok": True, "error_class": None, "error": None})
        except PodiumError as exc:
            rows.append({"house": house.key, "connector": name, "ok": False, "error_class": exc.error_class,
                         "error": redact(str(exc))})
    if as_json:
        _json(rows)
    for row in [] if as_json else rows:
        if row["ok"]:
            out.print(f"[green]✔[/] {row['house']} × {row['connector']}: ok")
        else:
            out.print(f"[red]✘[/] {row['house']} × {row['connector']}: "
                      + escape(f"[{row['error_class']}] {row['error']}"), highlight=False)
    sys.exit(0 if all(row["ok"] for row in rows) else 1)


@main.command("map")
@click.argument("connector")
@click.argument("stream")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--house", default="demo", help="House key used for canonical ids.")
@click.option("--timezone", default="Europe/Brussels", help="Time zone of naive vendor times.")
def map_cmd(connector: str, stream: str, file: str, house: str, timezone: str) -> None:
    """Map FILE (a document as the vendor serves it, in any shape the stream declares: a list page, or a
    single record such as GET /events/{id}; XML in any namespace version the connector declares):
    canonical JSON lines on stdout, rejected records with their reason on stderr. Exit 0 all valid; 3
    some rejected, or the document is not what the stream reads (another format, a SOAP fault, a broken
    page, no records: the one-line reason names the accepted shapes); 2 usage errors."""
    from podium.engine import map_document

    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    try:
        records, dead = map_document(connector, stream, data, house=house, timezone=timezone)
    except BadDataError as exc:
        click.echo(f"error: {file}: " + " ".join(str(exc).split()), err=True)  # one line, never wrapped
        sys.exit(3)
    except PodiumError as exc:
        _fail(f"{file}: {exc}")
    for record in records:
        click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))
    for letter in dead:
        click.echo(json.dumps({"rejected": letter.source_id, "reason": letter.reason,
                               "schema_path": letter.schema_path, "instance_path": letter.instance_path},
                              ensure_ascii=False), err=True)
    sys.exit(3 if dead else 0)


def progress_line(house: str, connector: str, stream: str, report: Any, stored: int) -> str:
    """``cc-x × acme × orders: 120 read → 340 tickets (+338 ~2), 1 rejected``: vendor records read,
    then the canonical records they became, each in its own unit."""
    entity = report.entity + ("" if stored == 1 else "s")
    return (f"{house} × {connector} × {stream}: {report.read} read → {stored} {entity} "
            f"(+{report.inserted} ~{report.updated}), {report.rejected} rejected")


def _report_table(reports: list[Any]) -> Table:
    table = Table(title="Sync report")
    for column in ("house", "connector", "stream", "status", "read", "inserted", "updated", "unchanged",
                   "rejected", "deleted", "seconds", "error"):
        table.add_column(column, justify="right" if column in ("read", "inserted", "updated", "unchanged",
                                                              "rejected", "deleted", "seconds") else "left")
    for report in reports:
        if report.status == "already_running":
            table.add_row(report.house, report.connector, "—", "[yellow]already running[/]", *[""] * 7,
                          escape(report.already_running_message()))
        if report.error_class and not report.streams:
            table.add_row(report.house, report.connector, "—", "[red]failed[/]", *[""] * 7,
                          escape(f"[{report.error_class}] {report.error}"))
        for s in report.streams:
            status = {"succeeded": "[green]ok[/]", "failed": "[red]failed[/]"}.get(s.status, s.status)
            if s.status == "succeeded" and s.rejected:
                status = "[yellow]ok, rejections[/]"
            table.add_row(report.house, report.connector, s.stream, status, str(s.read), str(s.inserted),
                          str(s.updated), str(s.unchanged), str(s.rejected), str(s.deleted), f"{s.seconds:.2f}",
                          escape(f"[{s.error_class}] {s.error}") if s.error_class else "")
    return table


@main.command("sync")
@click.option("--house", "house_ref", default=None, help="House config file or key (default: every house).")
@click.option("--connector", default=None, help="Only this connector.")
@click.option("--stream", "streams", multiple=True, help="Only these streams.")
@click.option("--full-refresh", is_flag=True, help="Ignore the saved state and read everything.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--workers", default=None, metavar="N|auto",
              help="Processes mapping pages in all: this one (which also commits them in order) and N-1 "
                   "spawned ones; auto = the CPU count (default: the house's 'workers', else "
                   "PODIUM_SYNC_WORKERS, else 1).")
def sync_cmd(house_ref: str | None, connector: str | None, streams: tuple[str, ...], full_refresh: bool,
             as_json: bool, workers: str | None) -> None:
    """Sync a house's enabled connectors (or every house's) into the store, and print a report.

    Exit 0 all synced, 1 some failed, 4 some were already being synced by another process (and
    none failed)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from podium.config import load_houses
    from podium.engine import StreamReport, run_sync
    from podium.paths import houses_dir

    try:
        houses = [_load_house(house_ref)] if house_ref else load_houses()
    except ConfigError as exc:
        _fail(str(exc))
    if not houses:
        _fail(f"no house configs in {houses_dir().resolve()} (run from the project folder, or set "
              "PODIUM_HOUSES_DIR, or name one with --house FILE)")
    store = _store()
    reports = []
    # One bar per stream: the vendor's records read against the total it announces (a result count in
    # its list answers; a pulsing bar when it gives none), then what they became in
    # canonical units, so orders read and tickets stored are never added up.
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=as_json or not err.is_terminal) as progress:
        for house in houses:
            names = [connector] if connector else [n for n, c in house.connectors.items() if c.enabled]
            for name in names:
                bars: dict[str, Any] = {}

                def show(stream: str, report: StreamReport, name: str = name, key: str = house.key,
                         bars: dict[str, Any] = bars) -> None:
                    if stream not in bars:
                        bars[stream] = progress.add_task("", total=None)
                    stored = report.inserted + report.updated + report.unchanged
                    progress.update(bars[stream], total=report.expected, completed=report.read,
                                    description=progress_line(key, name, stream, report, stored))
                reports.append(run_sync(house, name, store=store, full_refresh=full_refresh,
                                        streams=list(streams) or None, progress=show, workers=workers))
                for bar in bars.values():
                    progress.remove_task(bar)
    if as_json:
        _json([r.as_dict() for r in reports])
    else:
        out.print(_report_table(reports))
    for report in reports:
        if report.status == "already_running":
            err.print("[yellow]already running:[/] " + escape(report.already_running_message()), highlight=False)
    if any(r.status == "failed" for r in reports):
        sys.exit(1)
    sys.exit(EXIT_ALREADY_RUNNING if any(r.status == "already_running" for r in reports) else 0)


@main.command("remap")
@click.option("--house", "house_ref", required=True, help="House config file or key.")
@click.option("--connector", required=True, help="The connector whose archive is replayed.")
@click.option("--stream", "streams", multiple=True, help="Only these streams.")
@click.option("--workers", default=None, metavar="N|auto", help="Processes mapping pages (as for sync).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def remap_cmd(house_ref: str, connector: str, streams: tuple[str, ...], workers: str | None, as_json: bool) -> None:
    """Map the raw archive of a house × connector again with today's mappings, into the store.

    No vendor is called and no cursor moves; records the mappings no longer produce stay as stored
    and are counted. Exit 0 done, 1 failed, 4 a sync of the same house × connector is running."""
    from podium.remap import run_remap

    house = _load_house(house_ref)
    report = run_remap(house, connector, store=_store(), streams=list(streams) or None, workers=workers)
    if as_json:
        _json([report.as_dict()])
    else:
        out.print(_report_table([report]))
        for entity, count in sorted(report.not_reproduced.items()):
            if count:
                out.print(f"{count} stored {entity} record(s) of {connector} were not produced by the remap "
                          "(left as they are: the mapping no longer yields them, or their pages were pruned)")
    if report.status == "already_running":
        err.print("[yellow]already running:[/] " + escape(report.already_running_message()), highlight=False)
        sys.exit(EXIT_ALREADY_RUNNING)
    sys.exit(1 if report.status == "failed" else 0)


@main.command("sandbox")
@click.argument("connector")
@click.option("--port", type=int, default=None, help="Port (default: the connector's documented demo port).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--today", "today_text", default=None, metavar="YYYY-MM-DD",
              help="Seed the data around this day (default: PODIUM_TODAY, else the real date).")
def sandbox_cmd(connector: str, port: int | None, host: str, today_text: str | None) -> None:
    """Run a connector's vendor sandbox in the foreground."""
    import inspect

    from podium import clock
    from podium.registry import get_connector

    try:
        sandbox_class = get_connector(connector).sandbox_class()
        options: dict[str, Any] = {}
        if today_text is not None:
            if "today" not in inspect.signature(sandbox_class).parameters:
                raise ConfigError(f"the {connector} sandbox takes no injected day: run it without --today")
            options["today"] = clock.parse_day(today_text, "--today")
        sandbox = sandbox_class(**options)
    except (ConfigError, NotImplementedError) as exc:
        _fail(str(exc))
    port = port if port is not None else getattr(sandbox_class, "default_port", 0)
    err.print(f"{connector} sandbox on http://{host}:{port} (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever(host=host, port=port)


@main.command("new-connector")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder to create the package in.")
@click.option("--title", default=None, help="The vendor's display name (default: from NAME).")
def new_connector_cmd(name: str, dest: Path, title: str | None) -> None:
    """Scaffold a pip-installable connector package (connector, mapping, sandbox, conformance test)."""
    from podium.scaffold import new_connector

    try:
        root = new_connector(name, dest, title)
    except ConfigError as exc:
        _fail(str(exc))
    out.print(f"created {root}")
    out.print(f"next: pip install -e {root} && pytest {root / 'tests'}", highlight=False)


@main.command("status")
@click.option("--house", default=None, help="Only this house key.")
@click.option("--wide", is_flag=True, help="Every column (owner, finish time, counts, full error).")
@click.option("--json", "as_json", is_flag=True, help="JSON output: one object per house × connector × stream.")
def status_cmd(house: str | None, wide: bool, as_json: bool) -> None:
    """Per house × connector × stream: last run, state, counts and open dead letters.

    A run whose process died reads 'interrupted' at once (its owner's pid is gone on this host, or
    its heartbeat is older than two minutes). The default table fits an 80-column terminal;
    ``--wide`` shows every column."""
    rows = _store().status(house)
    if house and not rows:
        known = sorted({r["house"] for r in _store().status(None)})
        _fail(f"no sync of house '{house}' is recorded (houses with syncs: {', '.join(known) or 'none'})")
    if as_json:
        _json(rows)
        return
    out.print(_status_table(rows, wide))
    for r in [] if wide else rows:
        if r["error_class"]:
            out.print(f"[red]✘[/] {r['house']} × {r['connector']} × {r['stream']}: "
                      + escape(f"[{r['error_class']}] {r['error'] or ''}"), highlight=False)


def _status_table(rows: list[dict[str, Any]], wide: bool) -> Table:
    """Short columns that never fold a timestamp; counts, owner, cursor and the error with ``wide``
    (without it, ``status_cmd`` prints each error whole below the table)."""

    table = Table(title="Podium Hub sync status", box=None, pad_edge=False, show_header=True,
                  header_style="bold")
    # The time and the status keep their width; on a terminal under 100 columns the names give way
    # (ellipsis) so that every column still fits in 80.
    widths = {"last run (UTC)": 16, "status": 11, "rej": 3, "DL": 3}
    caps = {"house": 13, "connector": 10, "stream": 11} if out.width < 100 and not wide else {}
    columns = ["house", "connector", "stream", "last run (UTC)", "status", "rej", "DL"]
    if wide:
        columns += ["read", "inserted", "updated", "unchanged", "finished (UTC)", "owner", "cursor", "error"]
    for column in columns:
        numeric = column in ("rej", "DL", "read", "inserted", "updated", "unchanged")
        table.add_column(column, justify="right" if numeric else "left",
                         min_width=widths.get(column), max_width=caps.get(column),
                         no_wrap=column != "error", overflow="fold" if column == "error" else "ellipsis")
    for r in rows:
        status = {"succeeded": "[green]ok[/]", "failed": "[red]failed[/]",
                  "interrupted": "[yellow]interrupted[/]"}.get(r["status"], r["status"])
        cells = [r["house"], r["connector"], r["stream"], (r["started_at"] or "")[:16].replace("T", " "), status,
                 str(r["rejected"]), str(r["dead_letters_open"])]
        if wide:
            state = r["state"] or {}
            cursor = str(state.get("cursor") or ("resuming" if state.get("resume") else "—"))
            cells += [str(r["read"]), str(r["inserted"]), str(r["updated"]), str(r["unchanged"]),
                      (r["finished_at"] or "")[:19].replace("T", " "), r["owner"] or "—", cursor,
                      escape(f"[{r['error_class']}] {r['error'] or ''}" if r["error_class"] else "")]
        table.add_row(*cells)
    if not wide:
        table.caption = "rej: rejected by the last run · DL: open dead letters · --wide: all columns"
    return table


@main.command("export")
@click.option("--house", default=None, help="Only this house key.")
@click.option("--entity", type=click.Choice(["event", "contact", "ticket"]), default=None)
def export_cmd(house: str | None, entity: str | None) -> None:
    """The stored canonical records as JSON lines, sorted by id."""
    for record in _store().export(house=house, entity=entity):
        click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))


@main.group("deadletters")
def deadletters_cmd() -> None:
    """Records that could not become canonical."""


@deadletters_cmd.command("list")
@click.option("--house", default=None)
@click.option("--connector", default=None)
@click.option("--stream", default=None)
@click.option("--all", "show_all", is_flag=True, help="Include replayed ones.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=200, show_default=True)
def deadletters_list(house: str | None, connector: str | None, stream: str | None, show_all: bool,
                     as_json: bool, limit: int) -> None:
    """List dead letters with their reasons."""
    rows = _store().dead_letters(house=house, connector=connector, stream=stream,
                                 status=None if show_all else "open", limit=limit)
    if as_json:
        _json(rows)
        return
    table = Table(title=f"Dead letters ({len(rows)})")
    for column in ("id", "house", "connector", "stream", "source id", "status", "reason"):
        table.add_column(column, overflow="fold" if column == "reason" else "ellipsis")
    for r in rows:
        table.add_row(str(r["id"]), r["house"], r["connector"], r["stream"], r["source_id"] or "—", r["status"],
                      escape(r["reason"][:200]))
    out.print(table)
    # Archive URIs are printed whole, one per line and never wrapped, so they can be copied into
    # `podium archive show URI`.
    for r in rows:
        if r["archive_uri"]:
            click.echo(f"#{r['id']} raw page: {r['archive_uri']}")


@deadletters_cmd.command("replay")
@click.option("--house", default=None)
@click.option("--connector", default=None)
@click.option("--stream", default=None)
def deadletters_replay(house: str | None, connector: str | None, stream: str | None) -> None:
    """Map open dead letters again with today's mappings; store those that pass now."""
    from podium.config import load_houses
    from podium.engine import replay_dead_letters

    try:
        houses = {h.key: h for h in load_houses()} if Path(os.environ.get("PODIUM_HOUSES_DIR", "houses")).exists() else {}
    except ConfigError:
        houses = {}
    outcome = replay_dead_letters(_store(), house=house, connector=connector, stream=stream, houses=houses)
    out.print(f"replayed {outcome.replayed}, still rejected {outcome.still_rejected}, "
              f"not replayable {outcome.not_replayable}")
    for letter_id, why in sorted(outcome.why_not_replayable.items()):
        click.echo(f"#{letter_id} not replayable: {why}")
    for pair in outcome.busy:
        err.print(f"[yellow]skipped {escape(pair)}:[/] a sync of it is running; replay again when it ends",
                  highlight=False)
    sys.exit(EXIT_ALREADY_RUNNING if outcome.busy else 0)


@main.group("fleet")
def fleet_cmd() -> None:
    """Fleet tooling."""


@fleet_cmd.command("generate")
@click.option("--houses", "count", type=int, default=248, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--seed", type=int, default=1, show_default=True)
def fleet_generate(count: int, out_dir: str, seed: int) -> None:
    """Write a realistic fleet of house configs (the real mix of the 248 Flemish houses)."""
    from podium.fleet import generate_fleet

    paths = generate_fleet(count, Path(out_dir), seed=seed)
    out.print(f"wrote {len(paths)} house configs to {out_dir}")


@main.group("archive")
def archive_cmd() -> None:
    """The raw archive of vendor pages."""


@archive_cmd.command("prune")
def archive_prune() -> None:
    """Delete archived pages older than PODIUM_ARCHIVE_RETENTION_DAYS (default 90)."""
    from podium.archive import Archive

    archive = Archive()
    out.print(f"removed {archive.prune()} archived day folders/objects older than {archive.retention_days} days")


@archive_cmd.command("show")
@click.argument("uri")
def archive_show(uri: str) -> None:
    """Print an archived raw page as the vendor sent it."""
    from podium.archive import Archive

    sys.stdout.buffer.write(Archive().get(uri))


if __name__ == "__main__":
    main()
