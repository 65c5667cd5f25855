"""One Airflow pool per vendor, slots from the fleet config (``_fleet.yaml``).

A pool bounds how many houses talk to one vendor at the same moment, across every DAG of that
connector, whatever the fleet's size. ``python -m plugins.podium_provider.pools --json`` prints the
pools in the format of ``airflow pools import``; without ``--json`` it creates or updates them in
the metadata database.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from podium.fleet import DEFAULT_POOL_SLOTS, connector_settings, load_fleet_settings
from podium.registry import connector_names


def fleet_pools(houses_dir: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Pool name -> {slots, description, include_deferred} for every installed connector (third-party
    ones too) and every connector of the fleet config; slots from ``_fleet.yaml`` ``pool_slots``, else
    the connector's declared ``pool_slots``, else ``DEFAULT_POOL_SLOTS``. Sync DAGs exist only for installed connectors, so no task waits on a
    pool that was never created."""
    fleet = load_fleet_settings(houses_dir)
    pools: dict[str, dict[str, Any]] = {}
    names = set(fleet["connectors"]) | set(connector_names())
    for connector in sorted(names):
        spec = connector_settings(fleet, connector) or {}
        pools[f"podium_{connector}"] = {
            "slots": int(spec.get("pool_slots", DEFAULT_POOL_SLOTS)),
            "description": f"Podium Hub: houses syncing {connector} at the same time",
            "include_deferred": False,
        }
    pools["podium_publication"] = {"slots": 1, "description": "Podium Hub: downstream (example) DAGs",
                                   "include_deferred": False}
    pools["podium_fleet_checks"] = {"slots": 1, "description": "Podium Hub: tasks reporting house config mistakes",
                                    "include_deferred": False}
    return pools


def sync_pools(houses_dir: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Create or update the vendor pools in Airflow's metadata DB; return name -> slots."""
    from airflow.models.pool import Pool

    result = {}
    for name, spec in fleet_pools(houses_dir).items():
        Pool.create_or_update_pool(name=name, slots=spec["slots"], description=spec["description"],
                                   include_deferred=spec["include_deferred"])
        result[name] = spec["slots"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--houses", default=None, help="houses folder (default PODIUM_HOUSES_DIR or ./houses)")
    parser.add_argument("--json", action="store_true", help="print `airflow pools import` JSON instead")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(fleet_pools(args.houses), indent=2))
    else:
        for name, slots in sync_pools(args.houses).items():
            print(f"{name}: {slots} slots")


if __name__ == "__main__":
    main()
