#!/usr/bin/env bash
# Start, check and stop Airflow on this machine with the Podium DAGs, the cockpit and the sandboxes.
#
#   bash scripts/airflow.sh start            # `airflow standalone` (SQLite metadata DB) + the demo sandboxes
#   bash scripts/airflow.sh start --celery 2 # CeleryExecutor: Redis broker + 2 Celery workers (needs
#                                            # PODIUM_AIRFLOW_DB_URL=postgresql+psycopg://… : Celery cannot use SQLite)
#   bash scripts/airflow.sh start --no-sandboxes  # the houses' vendors are real (or started elsewhere)
#   bash scripts/airflow.sh status           # what runs, the URL and the login
#   bash scripts/airflow.sh stop             # stops every process it started (one process group)
#
# Everything started runs in ONE process group (setsid), recorded in $AIRFLOW_HOME/podium-airflow.pgid,
# so `stop` ends the scheduler, API server, DAG processor, triggerer, workers, Redis and sandboxes
# together and checks that none is left. Port: PODIUM_AIRFLOW_PORT (default 8080). Login: user
# `admin`, password printed by `start`/`status` (Airflow's simple auth manager writes it to
# $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export AIRFLOW_HOME=${AIRFLOW_HOME:-$ROOT/var/airflow}
export PATH="$ROOT/.venv/bin:$PATH"   # Airflow starts its components as `airflow …` from PATH
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}  # 2 cores: not 32 workers
export AIRFLOW__API__PORT=${PODIUM_AIRFLOW_PORT:-8080}
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}
export PODIUM_HOUSES_DIR=${PODIUM_HOUSES_DIR:-$ROOT/houses}
export PODIUM_FLEET_RETRIES=${PODIUM_FLEET_RETRIES:-1}
PGID_FILE=$AIRFLOW_HOME/podium-airflow.pgid
LOG_DIR=$AIRFLOW_HOME/logs-podium
PORT=$AIRFLOW__API__PORT
URL="http://127.0.0.1:$PORT"

password() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("admin", "?"))' \
    "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" 2>/dev/null || echo "(not written yet)"
}

# Live (not zombie) processes of a process group: a killed process whose parent is gone waits for init to
# reap it, and in a container init may never do so; it holds no port, memory or file.
live_in_group() { ps -e -o pid=,pgid=,stat=,args= | awk -v g="$1" '$2 == g && $3 !~ /^Z/'; }
group_alive() { [ -f "$PGID_FILE" ] && [ -n "$(live_in_group "$(cat "$PGID_FILE")")" ]; }

start() {
  local celery_workers=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --celery) celery_workers=${2:?--celery needs a worker count}; shift 2 ;;
      --no-sandboxes) export PODIUM_NO_SANDBOXES=1; shift ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
  if group_alive; then echo "already running (process group $(cat "$PGID_FILE")); stop it first" >&2; exit 1; fi
  mkdir -p "$AIRFLOW_HOME" "$LOG_DIR"
  if [ "$celery_workers" -gt 0 ]; then
    : "${PODIUM_AIRFLOW_DB_URL:?CeleryExecutor needs a PostgreSQL metadata DB: set PODIUM_AIRFLOW_DB_URL}"
    command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install redis-server" >&2; exit 2; }
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$PODIUM_AIRFLOW_DB_URL
    # Airflow derives its async engine's URL as postgresql+asyncpg (not installed here); psycopg 3
    # has an async dialect of its own.
    if [[ $PODIUM_AIRFLOW_DB_URL == postgresql+psycopg://* ]]; then
      export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC:-postgresql+psycopg_async://${PODIUM_AIRFLOW_DB_URL#postgresql+psycopg://}}
    fi
    export REDIS_PORT=${PODIUM_REDIS_PORT:-56379}
    export AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
    # Celery's database result backend is SQLAlchemy: it takes the metadata DB URL, driver included.
    export AIRFLOW__CELERY__RESULT_BACKEND=db+$PODIUM_AIRFLOW_DB_URL
    export AIRFLOW__CELERY__WORKER_CONCURRENCY=${AIRFLOW__CELERY__WORKER_CONCURRENCY:-2}
    # Workers run each task through the API server's execution API: on this port, not the default 8080.
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-$URL/execution/}
    # Each worker's name (PODIUM_WORKER_NAME below) is the host name its task instances show.
    export AIRFLOW__CORE__HOSTNAME_CALLABLE=${AIRFLOW__CORE__HOSTNAME_CALLABLE:-plugins.podium_provider.worker_name.worker_hostname}
  elif [ -n "${PODIUM_AIRFLOW_DB_URL:-}" ]; then
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=$PODIUM_AIRFLOW_DB_URL
  fi
  airflow db migrate >"$LOG_DIR/migrate.log" 2>&1
  python -m plugins.podium_provider.pools >"$LOG_DIR/pools.log" 2>&1
  python -m plugins.podium_provider.demo --connections-json >"$AIRFLOW_HOME/connections.json"
  airflow connections import --overwrite "$AIRFLOW_HOME/connections.json" >"$LOG_DIR/connections.log" 2>&1
  # One session leader (setsid) whose children are every component: its process group is the unit
  # `stop` ends. `wait` keeps the leader alive while the components run.
  export CELERY_WORKERS=$celery_workers LOG_DIR
  setsid bash -c '
    if [ -z "${PODIUM_NO_SANDBOXES:-}" ]; then
      python -m plugins.podium_provider.demo --serve-sandboxes >"$LOG_DIR/sandboxes.log" 2>&1 &
    fi
    if [ "$CELERY_WORKERS" -gt 0 ]; then
      redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >"$LOG_DIR/redis.log" 2>&1 &
      airflow api-server --port "$AIRFLOW__API__PORT" >"$LOG_DIR/api-server.log" 2>&1 &
      airflow scheduler >"$LOG_DIR/scheduler.log" 2>&1 &
      airflow dag-processor >"$LOG_DIR/dag-processor.log" 2>&1 &
      airflow triggerer >"$LOG_DIR/triggerer.log" 2>&1 &
      # --skip-serve-logs: the workers share this machine (and its log folder, which the API server
      # reads); each would otherwise bind the same log-server port (8793) and all but one would fail.
      for n in $(seq 1 "$CELERY_WORKERS"); do
        PODIUM_WORKER_NAME=worker$n airflow celery worker --celery-hostname "worker$n@%h" --skip-serve-logs \
          >"$LOG_DIR/worker$n.log" 2>&1 &
      done
    else
      airflow standalone >"$LOG_DIR/standalone.log" 2>&1 &
    fi
    wait
  ' </dev/null >/dev/null 2>&1 &
  local leader=$!
  echo "$leader" >"$PGID_FILE"
  local wait_s=${PODIUM_AIRFLOW_START_TIMEOUT:-180}  # a loaded machine may need longer
  for _ in $(seq 1 "$wait_s"); do
    if curl -fsS "$URL/api/v2/monitor/health" >/dev/null 2>&1; then
      echo "Airflow is up: $URL  (user admin, password $(password))"
      echo "Podium cockpit: $URL/podium/   logs: $LOG_DIR   stop: bash scripts/airflow.sh stop"
      return 0
    fi
    group_alive || { echo "Airflow stopped while starting; see $LOG_DIR" >&2; exit 1; }
    sleep 1
  done
  echo "nothing answered on $URL after $wait_s s; see $LOG_DIR (stopping)" >&2
  stop
  exit 1
}

stop() {
  [ -f "$PGID_FILE" ] || { echo "not running (no $PGID_FILE)"; return 0; }
  local pgid; pgid=$(cat "$PGID_FILE")
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    [ -n "$(live_in_group "$pgid")" ] || break
    sleep 1
  done
  if [ -n "$(live_in_group "$pgid")" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; sleep 1; fi
  if [ -n "$(live_in_group "$pgid")" ]; then
    echo "processes of group $pgid are still running:" >&2; live_in_group "$pgid" >&2; exit 1
  fi
  rm -f "$PGID_FILE"
  echo "stopped: no process of group $pgid is left"
}

status() {
  if group_alive; then
    echo "running (process group $(cat "$PGID_FILE")): $URL  (user admin, password $(password))"
    live_in_group "$(cat "$PGID_FILE")" | sed 's/^/  /' | cut -c1-160
  else
    echo "not running"
    return 3
  fi
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
