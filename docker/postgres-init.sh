#!/bin/sh
# One server, two databases: Airflow's metadata (POSTGRES_DB) and Podium's store (podium).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE USER podium WITH PASSWORD '${PODIUM_DB_PASSWORD}';
CREATE DATABASE podium OWNER podium;
SQL
