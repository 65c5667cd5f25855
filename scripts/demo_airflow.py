"""The main job through Airflow, standalone: starts the vendor sandboxes, defines the example houses'
connections (``AIRFLOW_CONN_*``), then runs every sync DAG with ``dag.test()`` under
``AIRFLOW_HOME=var/airflow`` and prints the sync reports.

    .venv/bin/python scripts/demo_airflow.py [--houses DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--houses", default=None, help="houses folder (default PODIUM_HOUSES_DIR or ./houses)")
    args = parser.parse_args(argv)
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    from plugins.podium_provider.demo import run_demo_through_airflow
    from podium.demo import export_connections, running_sandboxes

    export_connections()
    with running_sandboxes() as sandboxes:
        print("vendor sandboxes:", ", ".join(f"{n} {s.url}" for n, s in sandboxes.items()), flush=True)
        return run_demo_through_airflow(args.houses)


if __name__ == "__main__":
    sys.exit(main())
