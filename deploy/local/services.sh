#!/usr/bin/env bash
# The Tradeflow services as local background processes: for each service its
# HTTP API, outbox relay, event consumers and timer worker, and the webhooks service's
# delivery worker besides, and the web console's one process (18 processes).
# Needs the venv (make venv) and the infrastructure (infra.sh up).
#   services.sh up | down | status
set -euo pipefail
SCRIPT_NAME=services
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LOCAL_DIR/env.sh"

TRADEFLOW="$REPO_ROOT/.venv/bin/tradeflow"
SERVICES=(escrow ledger financing webhooks)
ROLES=(api relay consume timers)
# Roles beyond the four, per service.
declare -A EXTRA_ROLES=([webhooks]="deliver")
# The console has no database, topic, relay, consumer or timers: its api role alone.
declare -A ONLY_ROLES=([console]="api")
SERVICES+=(console)
roles_of() {
  if [[ -n ${ONLY_ROLES[$1]:-} ]]; then echo "${ONLY_ROLES[$1]}"; return; fi
  echo "${ROLES[@]}" ${EXTRA_ROLES[$1]:-}
}
# Same defaults and overrides as shared/settings.py.
declare -A API_PORT=(
  [escrow]=${TRADEFLOW_ESCROW_PORT:-8001}
  [ledger]=${TRADEFLOW_LEDGER_PORT:-8002}
  [financing]=${TRADEFLOW_FINANCING_PORT:-8003}
  [webhooks]=${TRADEFLOW_WEBHOOKS_PORT:-8004}
  [console]=${TRADEFLOW_CONSOLE_PORT:-8005}
)

healthy() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz"; }

# api_up SERVICE: true once /healthz answers 200; fails fast if the api died.
api_up() {
  local pidfile="$RUN_DIR/$1-api.pid"
  if ! pid_alive "$pidfile"; then
    tail -n 40 "$LOG_DIR/$1-api.log" >&2 || true
    die "$1 api exited during startup"
  fi
  healthy "${API_PORT[$1]}"
}

up() {
  [[ -x $TRADEFLOW ]] || die "$TRADEFLOW not found; run 'make venv' first"
  log "migrating databases"
  "$TRADEFLOW" migrate >"$LOG_DIR/migrate.log" 2>&1 || { cat "$LOG_DIR/migrate.log" >&2; exit 1; }
  log "creating topics"
  "$TRADEFLOW" topics >"$LOG_DIR/topics.log" 2>&1 || { cat "$LOG_DIR/topics.log" >&2; exit 1; }
  local svc role
  for svc in "${SERVICES[@]}"; do
    for role in $(roles_of "$svc"); do
      pid_alive "$RUN_DIR/$svc-$role.pid" && continue
      log "starting $svc $role"
      start_bg "$RUN_DIR/$svc-$role.pid" "$LOG_DIR/$svc-$role.log" "$TRADEFLOW" "$svc" "$role"
    done
  done
  for svc in "${SERVICES[@]}"; do
    if ! wait_for 60 "$svc /healthz" api_up "$svc"; then
      tail -n 40 "$LOG_DIR/$svc-api.log" >&2 || true
      exit 1
    fi
    echo "$svc: http://127.0.0.1:${API_PORT[$svc]}"
  done
}

down() {
  local svc role
  # In parallel: each one may take a few seconds to leave its consumer group.
  for svc in "${SERVICES[@]}"; do
    for role in $(roles_of "$svc"); do
      stop_pid "$svc $role" "$RUN_DIR/$svc-$role.pid" 20 &
    done
  done
  wait
}

status() {
  local svc role state rc=0
  for svc in "${SERVICES[@]}"; do
    for role in $(roles_of "$svc"); do
      if pid_alive "$RUN_DIR/$svc-$role.pid"; then
        state="up (pid $(cat "$RUN_DIR/$svc-$role.pid"))"
      else
        state=down
        rc=3
      fi
      if [[ $role == api ]] && [[ $state != down ]] && ! healthy "${API_PORT[$svc]}"; then
        state="$state, /healthz not answering"
      fi
      echo "$svc $role: $state"
    done
  done
  return "$rc"
}

dispatch "$@"
