"""How long Airflow takes to parse ``dags/`` for a generated fleet (default: the real 248 houses).

Generates the fleet into a temporary folder, points ``PODIUM_HOUSES_DIR`` at it, then times
``import airflow`` (a one-off cost the DAG processor pays once, reported apart) and a cold
``DagBag`` parse of ``dags/`` (which includes importing the Podium provider and reading every house
config, as a fresh DAG-processor child does). Warm re-parses are printed for information.
Ends with one line: ``houses=… dags=… tasks=… parse_s=… airflow_import_s=…``. Goal: parse_s ≤ 1.

    python bench/dag_parse.py [--houses 248] [--seed 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--houses", type=int, default=248)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="warm re-parses to time after the cold one")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from podium.fleet import generate_fleet

    with tempfile.TemporaryDirectory(prefix="podium-bench-") as tmp:
        houses = Path(tmp) / "houses"
        generate_fleet(args.houses, houses, seed=args.seed)
        os.environ.update({
            "PODIUM_HOUSES_DIR": str(houses),
            "AIRFLOW_HOME": str(Path(tmp) / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        })

        started = time.perf_counter()
        import airflow  # noqa: F401 — timed on purpose: the one-off cost
        from airflow.dag_processing.dagbag import DagBag

        airflow_import_s = time.perf_counter() - started

        started = time.perf_counter()
        bag = DagBag(dag_folder=str(REPO / "dags"))
        parse_s = time.perf_counter() - started
        if bag.import_errors:
            for path, error in bag.import_errors.items():
                print(f"import error in {path}:\n{error}", file=sys.stderr)
            return 1

        warm = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            DagBag(dag_folder=str(REPO / "dags"))
            warm.append(time.perf_counter() - started)

        tasks = sum(len(dag.tasks) for dag in bag.dags.values())
        mapped = _mapped_instances(houses)
        for stat in bag.dagbag_stats:
            print(f"{stat.file}: {stat.duration.total_seconds():.3f} s, {stat.dag_num} DAGs, {stat.task_num} tasks")
        for dag_id in sorted(bag.dags):
            print(f"  {dag_id}")
        if warm:
            print(f"warm re-parse: min {min(warm):.3f} s over {len(warm)}")
        print(f"mapped task instances per full round: {mapped}")
        print(f"houses={args.houses} dags={len(bag.dags)} tasks={tasks} parse_s={parse_s:.3f} "
              f"airflow_import_s={airflow_import_s:.3f}")
    return 0


def _mapped_instances(houses: Path) -> int:
    from podium.fleet import fleet_index

    return sum(len(keys) for keys in fleet_index(houses).values())


if __name__ == "__main__":
    raise SystemExit(main())
