#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite, on a free loopback port in a temp dir
# (under /dev/shm when there is one: copying a database per test is I/O; KARUSAKU_PG_TMPDIR
# picks another place).
#
#   eval "$(tests/postgres_server.sh start)"   # prints the export lines below
#   .venv/bin/python -m pytest                 # now runs on PostgreSQL
#   tests/postgres_server.sh stop              # stops it and deletes its folder
#
# It makes the three roles of docs/scaling.md ("The roles"): `karusaku_owner` (owns the tables,
# runs the migrations), `karusaku_operator` (backups, exports, imports, verify-audit: sees every
# clinic, no DDL) and `karusaku_app` (the web app: LOGIN only, row-level security applies), and
# uses `postgres`, the superuser, to create and drop a database per test. conftest.py builds
# the migrated template database itself, once per pytest session, so that it always matches the
# checkout's schema/postgresql/.
# Durability is off (fsync, full_page_writes): this cluster only ever holds test data.
# As root, the cluster runs as the `postgres` system user (initdb refuses root).
set -euo pipefail

command="${1:-start}"

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$found" ]; then
        echo "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)" >&2
        exit 1
    fi
    echo "$found"
}

default_tmpdir() {  # memory is faster for a cluster that copies a database per test
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then echo /dev/shm; else echo /tmp; fi
}

as_owner() {  # run a command as the cluster's owner
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    local bin dir port admin_password password
    bin=$(pg_bin)
    dir=$(mktemp -d "${KARUSAKU_PG_TMPDIR:-$(default_tmpdir)}/karusaku-pg.XXXXXX")
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    admin_password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    password=karusaku  # the same for the three roles: a throwaway cluster on 127.0.0.1
    echo "$admin_password" > "$dir/pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    rm -f "$dir/pwfile"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB" \
        start >/dev/null
    as_owner "$bin/psql" -q -X -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres <<SQL
CREATE ROLE karusaku_owner LOGIN PASSWORD '$password' BYPASSRLS;
CREATE ROLE karusaku_operator LOGIN PASSWORD '$password' BYPASSRLS;
CREATE ROLE karusaku_app LOGIN PASSWORD '$password';
SQL
    echo "export KARUSAKU_TEST_POSTGRES=postgresql://karusaku_app:$password@127.0.0.1:$port/postgres"
    echo "export KARUSAKU_TEST_POSTGRES_OWNER=postgresql://karusaku_owner:$password@127.0.0.1:$port/postgres"
    echo "export KARUSAKU_TEST_POSTGRES_OPERATOR=postgresql://karusaku_operator:$password@127.0.0.1:$port/postgres"
    echo "export KARUSAKU_TEST_POSTGRES_ADMIN=postgresql://postgres:$admin_password@127.0.0.1:$port/postgres"
    echo "export KARUSAKU_TEST_POSTGRES_DIR=$dir"
}

stop() {
    local dir="${2:-${KARUSAKU_TEST_POSTGRES_DIR:-}}"
    case "$dir" in
        */karusaku-pg.*) ;;
        *) echo "usage: $0 stop [DIR/karusaku-pg.XXXXXX] (or KARUSAKU_TEST_POSTGRES_DIR)" >&2; exit 2 ;;
    esac
    if [ -d "$dir/data" ]; then
        as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
}

case "$command" in
    start) start ;;
    stop) stop "$@" ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
