# Source this (`. deploy/local/env.sh`) to point Tradeflow at the local
# infrastructure started by infra.sh. Values already set are left alone.
# No `set -e` here: it would leak into the sourcing shell.

: "${KAFKA_BOOTSTRAP_SERVERS:=127.0.0.1:9092}"
# Server-level URL: services and tests derive the per-database URLs from it. No TLS to a
# server on this host (a fifth of the driver's CPU per statement, measured): a server on
# another host takes ?ssl=verify-full (docs/architecture.md, Configuration).
: "${DATABASE_URL:=postgresql+asyncpg://tradeflow:tradeflow@127.0.0.1:5432/postgres?ssl=disable}"
: "${STRIPE_API_BASE:=http://127.0.0.1:12111}"
# Local stack: development secrets (stripe-mock) are fine here, never in production.
: "${TRADEFLOW_ENVIRONMENT:=development}"
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL STRIPE_API_BASE TRADEFLOW_ENVIRONMENT
