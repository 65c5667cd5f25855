#!/usr/bin/env bash
# Run the whole test suite on a fresh clone: set up, lint, type-check, start PostgreSQL, run pytest
# (SQLite and PostgreSQL stores, real Airflow, sandboxes on loopback, moto_server for S3).
# Then re-run the date-sensitive tests on a sample of other days, so no test depends on the day CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy --no-error-summary
bash scripts/system-deps.sh
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop' EXIT

# pytest exits 5 when it collected no test: a run that tested nothing is a failure here, never a pass.
run_pytest() {
    local status=0
    .venv/bin/python -m pytest -n 2 --dist loadfile -q "$@" || status=$?
    if [ "$status" -eq 5 ]; then echo "pytest collected no tests: $*" >&2; return 1; fi
    return "$status"
}

echo "== pytest (PostgreSQL at $PODIUM_TEST_PG_URL)"
run_pytest "$@"

# tests/conftest.py pins today (PODIUM_TODAY) to one mid-season day; tests/core/test_calendar_year.py
# proves the sandbox data for every day of a year. These runs prove the tests themselves on other days:
# New Year, both daylight-saving switches, New Year's Eve and a leap day. The window-based connectors
# and the archive on each day; all connector tests on the autumn switch (cursor-based vendors depend on
# the day only through their change stamps). About 3 minutes on 2 workers.
if [ "$#" -eq 0 ]; then
    WINDOWED=(tests/connectors/test_yesplan.py tests/connectors/test_recreatex.py tests/core/test_archive.py)
    for day in 2026-01-01 2026-03-29 2026-10-25 2026-12-31 2028-02-29; do
        if [ "$day" = 2026-10-25 ]; then files=(tests/connectors tests/core/test_archive.py); else files=("${WINDOWED[@]}"); fi
        echo "== pytest on $day (PODIUM_TEST_TODAY): ${files[*]}"
        PODIUM_TEST_TODAY="$day" run_pytest "${files[@]}"
    done
fi
