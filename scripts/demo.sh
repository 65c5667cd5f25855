#!/usr/bin/env bash
# Set up and run the main job: the demo sync of the example houses against the vendor sandboxes,
# through Airflow, ending with the sync report and `podium status`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
