# Shared helpers for the deploy/local/*.sh scripts. Source it, don't run it.
# Everything the local stack downloads, writes or logs lives in $CACHE
# (<repo>/.cache by default, git-ignored; override with TRADEFLOW_CACHE).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$REPO_ROOT/deploy/local"
CACHE="${TRADEFLOW_CACHE:-$REPO_ROOT/.cache}"
RUN_DIR="$CACHE/run"
LOG_DIR="$CACHE/logs"
mkdir -p "$CACHE" "$RUN_DIR" "$LOG_DIR"

# Toolchains installed outside the default PATH (the Go tarball's usual home).
for dir in /usr/local/go/bin "$HOME/go/bin"; do
  [[ -d $dir && :$PATH: != *":$dir:"* ]] && PATH="$PATH:$dir"
done
export PATH

log() { printf '[%s] %s\n' "${SCRIPT_NAME:-local}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 1
  done
}

# pid_alive PIDFILE: true when the pid recorded in PIDFILE is a live process.
pid_alive() {
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# start_bg PIDFILE LOGFILE COMMAND...: run COMMAND detached (own session, no
# stdin, output to LOGFILE) and record its pid. setsid keeps a Ctrl-C in the
# calling terminal from reaching it; without job control setsid does not fork,
# so $! is the real process.
start_bg() {
  local pidfile=$1 logfile=$2
  shift 2
  setsid nohup "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# stop_pid NAME PIDFILE [TIMEOUT]: SIGTERM, wait, then SIGKILL. Only ever
# signals the pid this tooling recorded itself.
stop_pid() {
  local name=$1 pidfile=$2 secs=${3:-30} pid
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$secs" "$name to exit" bash -c "! kill -0 $pid 2>/dev/null"; then
    log "killing $name (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# dispatch "$@": run the up/down/status function named by the first argument.
dispatch() {
  case "${1:-}" in
    up | down | status) "$1" ;;
    *) echo "usage: $0 {up|down|status}" >&2; exit 2 ;;
  esac
}
