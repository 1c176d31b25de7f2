#!/usr/bin/env bash
# The benchmark's PostgreSQL: a persistent cluster on disk (not the test suite's throwaway one
# in /dev/shm), durable (fsync, synchronous_commit and full_page_writes stay on: a saved record
# survives a power cut, as the product promises), tuned for the 2-core, 24 GiB benchmark VM.
#
#   bench/postgres_server.sh start            # makes the cluster the first time, then starts it
#   bench/postgres_server.sh create NAME      # an empty database NAME owned by `karusaku_owner`
#   bench/postgres_server.sh url NAME         # prints the app's URL of database NAME
#   bench/postgres_server.sh env NAME         # prints the export lines of the three roles' URLs
#   bench/postgres_server.sh psql [NAME]      # psql as the superuser (RLS does not apply to it)
#   bench/postgres_server.sh stop             # stops it (the data stays)
#   bench/postgres_server.sh destroy          # stops it and deletes the folder
#
# KARUSAKU_PG_DIR (default /var/tmp/karusaku-pg) and KARUSAKU_PG_PORT (default 55432) choose the
# folder and the loopback port. The roles are docs/scaling.md's: `karusaku_owner` (owns the
# tables, runs init-db and copy-into-postgres; BYPASSRLS), `karusaku_operator` (backups, the
# benchmark's reads; BYPASSRLS) and `karusaku_app` (the app; LOGIN only), each with the password
# `karusaku`: the cluster listens on 127.0.0.1 only and holds generated data. The superuser `postgres` logs in through the Unix socket in the
# folder (trust). As root, the cluster runs as the `postgres` system user (initdb refuses root).
set -euo pipefail

command="${1:-start}"
DIR="${KARUSAKU_PG_DIR:-/var/tmp/karusaku-pg}"
PORT="${KARUSAKU_PG_PORT:-55432}"
PASSWORD=karusaku

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

as_owner() {  # run a command as the cluster's owner
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

superuser_psql() {  # psql as the superuser through the socket; $1 the database
    local database="$1"; shift
    as_owner "$(pg_bin)/psql" -q -X -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres \
        -d "$database" "$@"
}

initialise() {
    local bin
    bin=$(pg_bin)
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    as_owner "$bin/initdb" -D "$DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
    # Benchmark settings for 2 cores and 24 GiB, the rest PostgreSQL 15's defaults. Durability
    # stays as shipped: fsync, synchronous_commit, full_page_writes all on.
    as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null <<CONF

# --- Karusaku benchmark (bench/postgres_server.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 100               # 2 app processes x 8 threads = 16, plus the tools
shared_buffers = 2GB
effective_cache_size = 16GB
work_mem = 16MB
maintenance_work_mem = 1GB          # index builds and VACUUM after a load
wal_buffers = 16MB
max_wal_size = 8GB                  # a 60-month load writes ~10 GB: few forced checkpoints
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
random_page_cost = 1.1              # SSD-backed virtual disk
effective_io_concurrency = 200
jit = off                           # short OLTP queries: JIT compiling only adds latency
synchronous_commit = on
fsync = on
full_page_writes = on
log_min_duration_statement = 1000   # statements slower than 1 s go to the log
log_checkpoints = on
CONF
}

start() {
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        initialise
        local fresh=1
    fi
    if ! as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
    fi
    if [ -n "${fresh:-}" ]; then
        superuser_psql postgres <<SQL
CREATE ROLE karusaku_owner LOGIN PASSWORD '$PASSWORD' BYPASSRLS;
CREATE ROLE karusaku_operator LOGIN PASSWORD '$PASSWORD' BYPASSRLS;
CREATE ROLE karusaku_app LOGIN PASSWORD '$PASSWORD';
SQL
    fi
    echo "PostgreSQL $(as_owner "$(pg_bin)/postgres" --version | awk '{print $3}') in $DIR on 127.0.0.1:$PORT"
}

create() {
    local name="${2:?usage: $0 create NAME}"
    superuser_psql postgres <<SQL
CREATE DATABASE "$name" OWNER karusaku_owner;
SQL
    url "$@"
}

role_url() {  # $1 the role, $2 the database
    echo "postgresql://$1:$PASSWORD@127.0.0.1:$PORT/$2"
}

url() {
    role_url karusaku_app "${2:?usage: $0 url NAME}"
}

print_env() {
    local name="${2:?usage: $0 env NAME}"
    echo "export KARUSAKU_DATABASE=$(role_url karusaku_app "$name")"
    echo "export KARUSAKU_OPERATOR_DATABASE=$(role_url karusaku_operator "$name")"
    echo "export KARUSAKU_OWNER_DATABASE=$(role_url karusaku_owner "$name")"
}

stop() {
    if [ -d "$DIR/data" ]; then
        as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null || true
    fi
}

destroy() {
    case "$DIR" in
        */karusaku-pg*) ;;
        *) echo "refusing to delete $DIR (not a karusaku-pg folder)" >&2; exit 2 ;;
    esac
    stop
    rm -rf "$DIR"
}

case "$command" in
    start) start ;;
    create) create "$@" ;;
    url) url "$@" ;;
    env) print_env "$@" ;;
    psql) shift; superuser_psql "${1:-postgres}" "${@:2}" ;;
    stop) stop ;;
    destroy) destroy ;;
    *) echo "usage: $0 start|create NAME|url NAME|env NAME|psql [NAME]|stop|destroy" >&2; exit 2 ;;
esac
