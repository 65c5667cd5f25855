#!/usr/bin/env bash
# Run the whole test suite on a fresh clone: set up, lint, type-check, start PostgreSQL, run pytest
# (SQLite and PostgreSQL stores, real Airflow, sandboxes on loopback, moto_server for S3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy --no-error-summary
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop' EXIT
echo "== pytest (PostgreSQL at $PODIUM_TEST_PG_URL)"
.venv/bin/python -m pytest -n 2 --dist loadfile -q "$@"
