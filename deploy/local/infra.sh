#!/usr/bin/env bash
# The whole local infrastructure: PostgreSQL, Kafka, stripe-mock.
#   infra.sh up | down | status
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
COMPONENTS=(postgres kafka stripe-mock)

case "${1:-}" in
  up)
    for c in "${COMPONENTS[@]}"; do bash "$here/$c.sh" up; done
    ;;
  down)
    # Reverse order; keep going so one failure doesn't leave the rest running.
    rc=0
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
      bash "$here/${COMPONENTS[i]}.sh" down || rc=1
    done
    exit "$rc"
    ;;
  status)
    rc=0
    for c in "${COMPONENTS[@]}"; do bash "$here/$c.sh" status || rc=3; done
    exit "$rc"
    ;;
  *)
    echo "usage: $0 {up|down|status}" >&2
    exit 2
    ;;
esac
