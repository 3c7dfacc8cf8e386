-- Run once by the postgres image on an empty data volume
-- (mounted into /docker-entrypoint-initdb.d by deploy/docker-compose.yml).
-- Same role and databases as deploy/local/postgres.sh creates.
CREATE ROLE tradeflow LOGIN CREATEDB PASSWORD 'tradeflow';
CREATE DATABASE tradeflow_identity OWNER tradeflow;  -- API keys, shared by every service
CREATE DATABASE tradeflow_escrow OWNER tradeflow;
CREATE DATABASE tradeflow_ledger OWNER tradeflow;
CREATE DATABASE tradeflow_financing OWNER tradeflow;
CREATE DATABASE tradeflow_webhooks OWNER tradeflow;
