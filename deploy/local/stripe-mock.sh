#!/usr/bin/env bash
# stripe-mock (Stripe API double) built from the Go module proxy, pinned.
#   stripe-mock.sh up | down | status
set -euo pipefail
SCRIPT_NAME=stripe-mock
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v0.203.0
HOST=127.0.0.1
PORT=12111
HTTPS_PORT=12112
BIN="$CACHE/bin/stripe-mock"
PIDFILE="$RUN_DIR/stripe-mock.pid"
LOGFILE="$LOG_DIR/stripe-mock.log"

# Install when missing or built from another version than the pinned one.
ensure_binary() {
  if [[ -x $BIN ]] && go version -m "$BIN" | grep -q "stripe-mock[[:space:]]*$VERSION"; then
    return 0
  fi
  log "building stripe-mock $VERSION with go install"
  GOBIN="$CACHE/bin" go install "github.com/stripe/stripe-mock@$VERSION"
}

listening() {
  if ! pid_alive "$PIDFILE"; then
    tail -n 20 "$LOGFILE" >&2 || true
    die "stripe-mock exited during startup"
  fi
  port_open "$HOST" "$PORT"
}

up() {
  if ! port_open "$HOST" "$PORT"; then
    if ! pid_alive "$PIDFILE"; then
      ensure_binary
      log "starting stripe-mock (log: $LOGFILE)"
      start_bg "$PIDFILE" "$LOGFILE" "$BIN" \
        -http-addr "$HOST:$PORT" -https-addr "$HOST:$HTTPS_PORT"
    fi
    wait_for 30 "stripe-mock on $HOST:$PORT" listening || { tail -n 20 "$LOGFILE" >&2; exit 1; }
  fi
  echo "stripe-mock: http://$HOST:$PORT"
}

down() {
  stop_pid stripe-mock "$PIDFILE" 10
}

status() {
  if port_open "$HOST" "$PORT"; then
    if pid_alive "$PIDFILE"; then
      echo "stripe-mock: up http://$HOST:$PORT (pid $(cat "$PIDFILE"))"
    else
      echo "stripe-mock: up http://$HOST:$PORT (not started by this script)"
    fi
  else
    echo "stripe-mock: down"
    return 3
  fi
}

dispatch "$@"
