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

# proc_stat_field PID N: field N (3 = state, 22 = start time) of /proc/PID/stat.
# The command name (field 2) may hold spaces and parentheses: count after its last ')'.
proc_stat_field() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  local -a fields
  read -r -a fields <<<"$stat"
  printf '%s' "${fields[$(($2 - 3))]}"
}

# pid_running PID: true while PID is a process that runs. A killed process stays in the
# table as a zombie (state Z, or X while it goes) until its parent reaps it, and a zombie
# still answers kill -0: it is not running. Without /proc, kill -0 is all there is.
pid_running() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  [[ -d /proc/self ]] || { kill -0 "$1" 2>/dev/null; return; }
  local state
  state=$(proc_stat_field "$1" 3) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# pid_alive PIDFILE: true when the pid recorded in PIDFILE is a running process, and still
# the one start_bg started: a pid is reused once its process is gone, so start_bg records
# the process's start time beside it (PIDFILE.start) and a different start time is dead.
pid_alive() {
  [[ -s $1 ]] || return 1
  local pid
  pid=$(cat "$1")
  pid_running "$pid" || return 1
  if [[ -s $1.start ]]; then
    [[ $(proc_stat_field "$pid" 22) == "$(cat "$1.start")" ]] || return 1
  fi
}

# start_bg PIDFILE LOGFILE COMMAND...: run COMMAND detached (own session, no
# stdin, output to LOGFILE) and record its pid and start time. setsid keeps a Ctrl-C
# in the calling terminal from reaching it; without job control setsid does not fork,
# so $! is the real process (exec keeps its pid and start time).
start_bg() {
  local pidfile=$1 logfile=$2
  shift 2
  setsid nohup "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  rm -f "$pidfile.start"
  if [[ -d /proc/self ]]; then
    proc_stat_field $! 22 >"$pidfile.start" || rm -f "$pidfile.start"
  fi
}

pid_gone() { ! pid_running "$1"; }

# stop_pid NAME PIDFILE [TIMEOUT]: SIGTERM, wait, then SIGKILL. Only ever
# signals the pid this tooling recorded itself.
stop_pid() {
  local name=$1 pidfile=$2 secs=${3:-30} pid
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile" "$pidfile.start"
    return 0
  fi
  pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$secs" "$name to exit" pid_gone "$pid"; then
    log "killing $name (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$pidfile.start"
}

# dispatch "$@": run the up/down/status function named by the first argument.
dispatch() {
  case "${1:-}" in
    up | down | status) "$1" ;;
    *) echo "usage: $0 {up|down|status}" >&2; exit 2 ;;
  esac
}
