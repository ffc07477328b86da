#!/usr/bin/env bash
# Start a PostgreSQL server for the runner's ledger tests and print its URL.
#
#   eval "$(scripts/start-postgres.sh)"     # exports BXOPS_TEST_PG_URL
#
# Runs as root on a fresh Debian 12 (installs the `postgresql` package when it is missing) or as any
# user who can write $BXOPS_PG_DIR. Uses a private cluster (initdb under /var/tmp, owned by postgres,
# on a Unix socket and 127.0.0.1:$BXOPS_PG_PORT), so it needs no systemd and leaves the packaged
# cluster alone. Idempotent: a second call finds the server running and only prints the URL.
# Everything but the final `export` line goes to stderr.
set -euo pipefail

PORT="${BXOPS_PG_PORT:-55432}"
DIR="${BXOPS_PG_DIR:-/var/tmp/bxops-pg}"
ROLE=bxops_test
PASSWORD=bxops_test
DB=bxops_test
log() { printf 'start-postgres: %s\n' "$*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DIR"
    chown postgres:postgres "$DIR"
    chmod 700 "$DIR"
else
    mkdir -p -m 700 "$DIR"
fi

if [ ! -s "$DIR/data/PG_VERSION" ]; then
    log "initdb in $DIR/data"
    as_postgres "$BIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >&2
fi

# Ask the server itself, not its pid file: a cluster left by a killed session has a stale one.
if ! as_postgres "$BIN/pg_isready" -h "$DIR" -p "$PORT" -q; then
    log "starting on port $PORT"
    # Backends of a killed server can hold its shared memory for a moment: retry a few times.
    for attempt in 1 2 3 4 5; do
        as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
            -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off" >&2 && break
        [ "$attempt" = 5 ] && { log "PostgreSQL did not start; see $DIR/server.log"; exit 1; }
        sleep 2
    done
fi

psql_super() { as_postgres "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_super -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    psql_super -d postgres -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'"
fi
if [ "$(psql_super -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql_super -d postgres -c "CREATE DATABASE $DB OWNER $ROLE"
fi

URL="postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
log "ready: $URL"
echo "export BXOPS_TEST_PG_URL='$URL'"
