#!/usr/bin/env bash
# PostgreSQL on 127.0.0.1:5432 with the tradeflow role, the identity database (API keys)
# and the service databases.
# As root it runs the Debian cluster (pg_ctlcluster); as another user it runs
# a private cluster under the cache dir (initdb + pg_ctl).
#   postgres.sh up | down | status
# TRADEFLOW_PG_PORT picks another port and TRADEFLOW_PG_CLUSTER the Debian
# cluster's name (the chaos run uses its own server so it can restart it);
# TRADEFLOW_PG_STOP_MODE=immediate makes `down` a crash (no checkpoint).
set -euo pipefail
SCRIPT_NAME=postgres
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PORT=${TRADEFLOW_PG_PORT:-5432}
STOP_MODE=${TRADEFLOW_PG_STOP_MODE:-fast}
DATABASES=(tradeflow_identity tradeflow_escrow tradeflow_ledger tradeflow_financing tradeflow_webhooks)
# What `up` started, so `down` stops only that: "cluster VER NAME" or "pgctl".
STARTED="$RUN_DIR/postgres.started"
PGDATA_DIR="$CACHE/postgres/data"
SOCKET_DIR="$CACHE/postgres/run"

ready() { pg_isready -q -h "$HOST" -p "$PORT"; }

pg_bin_dir() {
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)
  [[ -n $v && -x /usr/lib/postgresql/$v/bin/postgres ]] && echo "/usr/lib/postgresql/$v/bin"
}

ensure_installed() {
  pg_bin_dir >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "PostgreSQL server is not installed; run as root or: apt-get install postgresql"
  log "installing PostgreSQL from apt"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
}

# Root: start (creating if needed) the Debian cluster that owns port 5432.
start_debian_cluster() {
  local ver name
  read -r ver name < <(pg_lsclusters -h | awk -v p="$PORT" '$3 == p {print $1, $2; exit}') || true
  if [[ -z ${ver:-} ]]; then
    ver=$(basename "$(dirname "$(pg_bin_dir)")")
    name=${TRADEFLOW_PG_CLUSTER:-main}
    if [[ -z ${TRADEFLOW_PG_CLUSTER:-} ]]; then
      pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {f=1} END {exit !f}' && name=tradeflow
    fi
    log "creating cluster $ver/$name on port $PORT"
    pg_createcluster -p "$PORT" "$ver" "$name" >/dev/null
  fi
  log "starting cluster $ver/$name"
  pg_ctlcluster "$ver" "$name" start
  echo "cluster $ver $name" >"$STARTED"
}

# Non-root: a private cluster in the cache dir, TCP on 127.0.0.1 only.
start_private_cluster() {
  local bin
  bin=$(pg_bin_dir)
  mkdir -p "$SOCKET_DIR"
  if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
    log "initdb $PGDATA_DIR"
    "$bin/initdb" -D "$PGDATA_DIR" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  log "starting private cluster $PGDATA_DIR"
  "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$LOG_DIR/postgres.log" -w \
    -o "-c listen_addresses=$HOST -p $PORT -k $SOCKET_DIR" start >/dev/null
  echo "pgctl" >"$STARTED"
}

# psql as the postgres superuser over the local socket (extra psql flags as arguments).
superuser_psql() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && su postgres -c "psql -X -q -v ON_ERROR_STOP=1 -p $PORT -d postgres $*")
  else
    psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres "$@"
  fi
}

tradeflow_psql() {
  PGPASSWORD=tradeflow psql -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U tradeflow "$@"
}

# True when the tradeflow role can already log in (e.g. a server someone else runs,
# where we may not be superuser) and may end other backends of a database it drops:
# DROP DATABASE ... WITH (FORCE) must end autovacuum workers too, which belong to no role.
role_ok() {
  [[ "$(tradeflow_psql -d postgres -c "select pg_has_role('pg_signal_backend', 'MEMBER')" 2>/dev/null)" == t ]]
}

# The databases, created by the tradeflow role itself (it has CREATEDB) when the role
# exists, so a database added later (tradeflow_identity) needs no superuser.
ensure_databases() {
  local db
  for db in "${DATABASES[@]}"; do
    [[ $(tradeflow_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'") == 1 ]] \
      && continue
    log "creating database $db"
    tradeflow_psql -d postgres -c "CREATE DATABASE $db"
  done
}

ensure_schema() {
  if ! role_ok; then
    log "creating role tradeflow (or granting it pg_signal_backend)"
    superuser_psql <<SQL
SELECT 'CREATE ROLE tradeflow' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tradeflow')
\gexec
ALTER ROLE tradeflow LOGIN CREATEDB PASSWORD 'tradeflow';
GRANT pg_signal_backend TO tradeflow;
SQL
  fi
  ensure_databases
}

# Every service process holds a pool (10 + 10 overflow); a test session or the chaos run
# (24 processes) needs more than PostgreSQL's default 100 connections.
MAX_CONNECTIONS=${TRADEFLOW_PG_MAX_CONNECTIONS:-400}

# On a server this script just started: raise max_connections (a restart) when below.
ensure_connections() {
  local have
  have=$(superuser_psql -At <<<"SHOW max_connections")
  ((have >= MAX_CONNECTIONS)) && return 0
  log "max_connections $have -> $MAX_CONNECTIONS (restart)"
  superuser_psql <<<"ALTER SYSTEM SET max_connections = $MAX_CONNECTIONS"
  local kind ver name
  read -r kind ver name <"$STARTED"
  case $kind in
    cluster) pg_ctlcluster "$ver" "$name" restart ;;
    pgctl) "$(pg_bin_dir)/pg_ctl" -D "$PGDATA_DIR" -w restart >/dev/null ;;
  esac
  wait_for 30 "PostgreSQL on $HOST:$PORT" ready
}

up() {
  if ! ready; then
    ensure_installed
    if [[ $EUID -eq 0 ]]; then start_debian_cluster; else start_private_cluster; fi
    wait_for 30 "PostgreSQL on $HOST:$PORT" ready
    ensure_connections
  fi
  ensure_schema
  echo "postgres: postgresql://tradeflow:tradeflow@$HOST:$PORT"
}

down() {
  [[ -f $STARTED ]] || return 0
  local kind ver name
  read -r kind ver name <"$STARTED"
  log "stopping PostgreSQL"
  case $kind in
    cluster) pg_ctlcluster "$ver" "$name" stop -m "$STOP_MODE" ;;
    pgctl) "$(pg_bin_dir)/pg_ctl" -D "$PGDATA_DIR" -m "$STOP_MODE" -w stop >/dev/null ;;
  esac
  rm -f "$STARTED"
}

status() {
  if ready; then
    if [[ -f $STARTED ]]; then
      echo "postgres: up $HOST:$PORT ($(cat "$STARTED"))"
    else
      echo "postgres: up $HOST:$PORT (not started by this script)"
    fi
  else
    echo "postgres: down"
    return 3
  fi
}

dispatch "$@"
