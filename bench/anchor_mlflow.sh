#!/usr/bin/env bash
# MLflow anchor beside bench/store.py, in one window: for each backend (SQLite, Postgres) start an
# `mlflow server --workers 2` on 127.0.0.1, run the MLflow tracking-server bench against it,
# stop it (by its PID, children included), then run bench/store.py; the order is
# mlflow-sqlite, ours, mlflow-postgres, ours (a b a b). The MLflow bench is an external script
# (not part of this repository) that logs and reads metric batches through MLflow's REST API;
# MLflow lives in a virtual environment of its own (`pip install mlflow httpx psycopg[binary]`),
# never in the project's.
#
#   MLFLOW_VENV=path/to/mlflow-venv MLFLOW_BENCH=path/to/mlflow_bench.py bench/anchor_mlflow.sh [its args]
#
# `--load [ROUNDS]` instead: submissions side by side. One `mlflow server --workers 2` on a throwaway
# Postgres database (idle while ours runs), then per round (default 2), alternating: bench/load.py
# --mlflow (runs/create) and bench/load.py (POST /v1/experiments), both with the same clients and
# method, without and with a one-request warm-up per client. LOAD_ARGS: the arguments of each
# bench/load.py (default "--requests 1000 --clients 8").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MLFLOW_VENV:?set MLFLOW_VENV to a virtual environment with mlflow installed}
ANCHOR=${MLFLOW_BENCH:-}
PY=${PY:-$ROOT/.venv/bin/python}
PORT=${PORT:-5055}
WORK=$(mktemp -d)
DB="mlflow_anchor_$$"
PID=""
stop() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kids=$(pgrep -P "$PID" || true)
    kill "$PID" $kids 2>/dev/null || true
    sleep 2
    kill -9 "$PID" $kids 2>/dev/null || true
  fi
  PID=""
}
cleanup() { stop; psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
serve() {  # $1: backend store URI
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$VENV/bin/mlflow" server --backend-store-uri "$1" \
    --artifacts-destination "$WORK/art" --host 127.0.0.1 --port "$PORT" --workers 2 > "$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 240); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.5; done
  echo "mlflow server did not start"; tail -30 "$WORK/server.log"; exit 1
}
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg), nproc $(nproc)"
if [ "${1:-}" = "--load" ]; then
  read -r -a LOAD <<< "${LOAD_ARGS:---requests 1000 --clients 8}"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE \"$DB\""
  serve "postgresql+psycopg://postgres@127.0.0.1:5432/$DB"
  for round in $(seq "${2:-2}"); do
    for warm in 0 1; do
      echo "## round $round, warm-up $warm: MLflow runs/create"
      "$PY" "$ROOT/bench/load.py" --mlflow "http://127.0.0.1:$PORT" --warmup "$warm" "${LOAD[@]}"
      echo "## round $round, warm-up $warm: skipcore POST /v1/experiments"
      "$PY" "$ROOT/bench/load.py" --warmup "$warm" "${LOAD[@]}"
    done
  done
  exit 0
fi
[ -n "$ANCHOR" ] || { echo "set MLFLOW_BENCH to the MLflow tracking-server bench script"; exit 2; }
serve "sqlite:///$WORK/mlflow.db"
"$VENV/bin/python" "$ANCHOR" --url "http://127.0.0.1:$PORT" --label mlflow-sqlite --skip-limits "$@"
stop
"$PY" "$ROOT/bench/store.py" --reads 5
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE \"$DB\""
serve "postgresql+psycopg://postgres@127.0.0.1:5432/$DB"
"$VENV/bin/python" "$ANCHOR" --url "http://127.0.0.1:$PORT" --label mlflow-postgres --skip-limits "$@"
stop
"$PY" "$ROOT/bench/store.py" --reads 5
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
