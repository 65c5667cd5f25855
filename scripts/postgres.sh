#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the tests (installs it if missing).
# Prints the SQLAlchemy URL on stdout. Usage: eval "$(scripts/postgres.sh start)"; scripts/postgres.sh stop
set -euo pipefail
PGPORT=${PODIUM_TEST_PG_PORT:-55432}
PGDATA=${PODIUM_TEST_PG_DIR:-/tmp/podium-test-pg}
find_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
}
case "${1:-start}" in
  start)
    BIN=$(find_bin || true)
    if [ -z "${BIN:-}" ]; then
      echo "installing postgresql…" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
      BIN=$(find_bin)
    fi
    if [ "$(id -u)" = 0 ]; then RUN=(su postgres -s /bin/sh -c); else RUN=(sh -c); fi
    if [ -f "$PGDATA/postmaster.pid" ]; then
      "${RUN[@]}" "$BIN/pg_ctl -D $PGDATA -m immediate stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$PGDATA"; mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
    "${RUN[@]}" "$BIN/initdb -D $PGDATA -U postgres -A trust -E UTF8 --locale=C.UTF-8" >/dev/null 2>&1 \
      || "${RUN[@]}" "$BIN/initdb -D $PGDATA -U postgres -A trust -E UTF8" >/dev/null
    "${RUN[@]}" "$BIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -o '-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c max_connections=200' start" >/dev/null
    echo "export PODIUM_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    BIN=$(find_bin || true)
    if [ -n "${BIN:-}" ] && [ -f "$PGDATA/postmaster.pid" ]; then
      if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$BIN/pg_ctl -D $PGDATA -m fast stop" >/dev/null
      else "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null; fi
    fi
    ;;
esac
