"""The main job through Airflow: ``AIRFLOW_HOME=var/airflow``, metadata DB migrated, vendor pools
created, then every sync DAG of the example houses run for real with ``dag.test()``; prints each
house's sync report (counts only) and the asset events the runs announced.

Vendor sandboxes and connections are the caller's business (``scripts/demo.py`` or
``scripts/demo_airflow.py`` start them). Airflow is imported only after ``AIRFLOW_HOME`` is set.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_demo_through_airflow(houses_dir: str | os.PathLike[str] | None = None) -> int:
    """Run the sync DAGs of ``houses_dir`` (default ``PODIUM_HOUSES_DIR``/``houses``); 0 when every house synced."""
    from plugins.podium_provider.local import prepare_airflow_home
    from podium.paths import var_dir

    if houses_dir is not None:
        os.environ["PODIUM_HOUSES_DIR"] = str(Path(houses_dir).resolve())
    os.environ.setdefault("PODIUM_HOUSES_DIR", str(REPO / "houses"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # the table below is the output
    os.environ.setdefault("PODIUM_FLEET_RETRIES", "0")  # dag.test() would sit out each retry delay
    prepare_airflow_home(os.environ.get("AIRFLOW_HOME") or var_dir() / "airflow", REPO / "dags")

    from plugins.podium_provider.local import asset_events, format_results, migrate_metadata_db, run_sync_dags
    from plugins.podium_provider.pools import sync_pools

    print(f"airflow home: {os.environ['AIRFLOW_HOME']}  houses: {os.environ['PODIUM_HOUSES_DIR']}", flush=True)
    migrate_metadata_db()
    pools = sync_pools()
    print("pools: " + ", ".join(f"{name}={slots}" for name, slots in pools.items()), flush=True)
    before = len(asset_events())
    results = run_sync_dags(REPO / "dags")
    print("\n== sync reports (XCom of each mapped task; counts only) ==")
    print(format_results(results))
    announced = asset_events()[before:]
    print(f"\n== asset events announced: {len(announced)} ==")
    for event in announced:
        extra = event["extra"]
        print(f"  {event['uri']:<28} house={extra.get('house')} connector={extra.get('connector')} "
              f"+{extra.get('inserted', 0)} ~{extra.get('updated', 0)} -{extra.get('deleted', 0)}")
    failed = [(h.dag_id, h.house) for r in results for h in r.houses if h.state != "success"]
    for dag_id, house in failed:
        print(f"FAILED: {house} in {dag_id} (see the task log / ops alert above)")
    return 1 if failed else 0


def demo_connections() -> dict[str, dict[str, object]]:
    """The example houses' sandbox connections in ``airflow connections import`` JSON form, typed by auth kind."""
    from podium.demo import sandbox_connections

    # Each connection already carries the connection type of its connector's declared auth kind.
    return dict(sandbox_connections())


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Podium Hub demo through Airflow")
    parser.add_argument("--connections-json", action="store_true",
                        help="print the demo connections for `airflow connections import` and exit")
    parser.add_argument("--serve-sandboxes", action="store_true",
                        help="serve the example houses' vendor sandboxes on their demo ports until stopped")
    args = parser.parse_args(argv)
    if args.connections_json:
        print(json.dumps(demo_connections(), indent=2))
        return 0
    if args.serve_sandboxes:
        return serve_sandboxes()
    return run_demo_through_airflow()


def serve_sandboxes() -> int:
    """The example houses' sandboxes on their documented ports, until SIGTERM/SIGINT (scripts/airflow.sh)."""
    import signal
    import threading

    from podium.demo import running_sandboxes

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with running_sandboxes() as sandboxes:
        print("sandboxes: " + ", ".join(f"{name}={sandbox.url}" for name, sandbox in sorted(sandboxes.items())),
              flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
