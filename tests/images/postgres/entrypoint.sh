#!/bin/bash
# First start: initdb, create the user and database and run /docker-entrypoint-initdb.d/*.sql
# while listening on the socket only, then run the server in the foreground on all interfaces
# (what the official image does).
set -euo pipefail
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD:-postgres}" >"$pwfile"
  chown postgres "$pwfile"
  su postgres -c "initdb -D '$PGDATA' --username='$user' --pwfile='$pwfile' --auth-local=trust --auth-host=scram-sha-256" >&2
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  su postgres -c "pg_ctl -D '$PGDATA' -o \"-c listen_addresses=''\" -w start" >&2
  if [ "$db" != "postgres" ]; then
    su postgres -c "psql -v ON_ERROR_STOP=1 --username='$user' --dbname=postgres -c 'CREATE DATABASE \"$db\"'" >&2
  fi
  # Initialisation scripts, as the official image runs them.
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] || continue
    echo "entrypoint: running $f" >&2
    su postgres -c "psql -v ON_ERROR_STOP=1 --username='$user' --dbname='$db' -f '$f'" >&2
  done
  su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop" >&2
fi
exec su postgres -c "exec postgres -D '$PGDATA' -c listen_addresses='*'"
