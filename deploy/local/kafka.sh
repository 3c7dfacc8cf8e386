#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller) as a plain JVM process,
# run from jars that Maven resolves from deploy/local/kafka/pom.xml.
#   kafka.sh up | down | status
# TRADEFLOW_KAFKA_PORT / TRADEFLOW_KAFKA_CONTROLLER_PORT move it off 9092/9093
# (the chaos run starts a broker of its own, which it may kill).
set -euo pipefail
SCRIPT_NAME=kafka
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PORT=${TRADEFLOW_KAFKA_PORT:-9092}
CONTROLLER_PORT=${TRADEFLOW_KAFKA_CONTROLLER_PORT:-9093}
CONF_DIR="$LOCAL_DIR/kafka"
HOME_DIR="$CACHE/kafka"
LIB="$HOME_DIR/lib"
DATA="$HOME_DIR/data"
PROPS="$HOME_DIR/server.properties"
PIDFILE="$RUN_DIR/kafka.pid"
LOGFILE="$LOG_DIR/kafka.log"

# Copy the runtime jars once per pom content (the pom pins every version).
ensure_jars() {
  local want stamp="$LIB/.pom.sha256"
  want=$(sha256sum "$CONF_DIR/pom.xml" | cut -d' ' -f1)
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
  log "resolving Kafka jars with Maven into $LIB"
  rm -rf "$LIB"
  # Maven prints stray ANSI codes even with -q -B: keep its output in a log.
  if ! mvn -q -B -f "$CONF_DIR/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIB" -DincludeScope=runtime >"$LOG_DIR/kafka-mvn.log" 2>&1; then
    cat "$LOG_DIR/kafka-mvn.log" >&2
    die "Maven could not resolve the Kafka jars"
  fi
  echo "$want" >"$stamp"
}

# Format the KRaft metadata log once; meta.properties marks it as done.
ensure_storage() {
  mkdir -p "$DATA"
  sed -e "s|@LOG_DIRS@|$DATA|" -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    "$CONF_DIR/server.properties" >"$PROPS"
  [[ -f $DATA/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(java -cp "$LIB/*" kafka.tools.StorageTool random-uuid)
  log "formatting storage in $DATA (cluster $cluster_id)"
  java -cp "$LIB/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" >/dev/null
}

started() {
  if ! pid_alive "$PIDFILE"; then
    tail -n 40 "$LOGFILE" >&2 || true
    die "Kafka exited during startup"
  fi
  port_open "$HOST" "$PORT" && grep -q 'Kafka Server started' "$LOGFILE"
}

up() {
  # Reuse any Kafka already there, even one still starting (controller
  # port bound, broker port not yet): a second one would fail to bind.
  if port_open "$HOST" "$PORT" || { ! pid_alive "$PIDFILE" && port_open "$HOST" "$CONTROLLER_PORT"; }; then
    wait_for 90 "the running Kafka on $HOST:$PORT" port_open "$HOST" "$PORT"
    echo "kafka: $HOST:$PORT"
    return 0
  fi
  if ! pid_alive "$PIDFILE"; then
    ensure_jars
    ensure_storage
    log "starting Kafka (log: $LOGFILE)"
    start_bg "$PIDFILE" "$LOGFILE" java -Xms256m -Xmx768m \
      -Dlog4j2.configurationFile="$CONF_DIR/log4j2.yaml" \
      -cp "$LIB/*" kafka.Kafka "$PROPS"
  fi
  wait_for 90 "Kafka on $HOST:$PORT" started || { tail -n 40 "$LOGFILE" >&2; exit 1; }
  echo "kafka: $HOST:$PORT"
}

down() {
  stop_pid kafka "$PIDFILE" 60
}

status() {
  if port_open "$HOST" "$PORT"; then
    if pid_alive "$PIDFILE"; then
      echo "kafka: up $HOST:$PORT (pid $(cat "$PIDFILE"))"
    else
      echo "kafka: up $HOST:$PORT (not started by this script)"
    fi
  else
    echo "kafka: down"
    return 3
  fi
}

dispatch "$@"
