"""The main job on embedded defaults: vendor sandboxes on loopback, the example houses, SQLite under
var/, the raw archive in var/archive — synced through Airflow when it is installed (the default
setup), else through the same engine directly. Ends with the sync report and ``podium status``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    os.chdir(REPO)
    os.environ.setdefault("PODIUM_HOUSES_DIR", str(REPO / "houses"))
    from podium.demo import export_connections, running_sandboxes

    export_connections()
    with running_sandboxes() as sandboxes:
        print("vendor sandboxes:", ", ".join(f"{n} {s.url}" for n, s in sandboxes.items()), flush=True)
        try:
            from plugins.podium_provider.demo import run_demo_through_airflow
        except ImportError:
            run_demo_through_airflow = None
        if run_demo_through_airflow is not None and "--no-airflow" not in sys.argv:
            code = run_demo_through_airflow()
        else:
            code = subprocess.call([sys.executable, "-m", "podium.cli", "sync"])
    subprocess.call([sys.executable, "-m", "podium.cli", "status"])
    return code


if __name__ == "__main__":
    sys.exit(main())
