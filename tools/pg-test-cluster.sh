#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, kept entirely in DIR (say a mktemp -d folder): Unix socket
# only (DIR/run, no TCP), no fsync, max_connections=300 since the tests run in parallel and each
# makes its own database. Works as root (the server then runs as the `postgres` system user, which
# is given DIR) and as an ordinary user.
#
# Usage: tools/pg-test-cluster.sh start|stop|url DIR
#   start  create the cluster in DIR/data if needed and start it
#   stop   stop it (a no-op if it is not running)
#   url    print its libpq URI: postgresql:///postgres?host=DIR/run&port=PORT&user=optune
# The port (only a name for the socket file) is $OPTUNE_TEST_PG_PORT, default 5499.
set -euo pipefail

port="${OPTUNE_TEST_PG_PORT:-5499}"
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
if [ "$command" = start ]; then mkdir -p "$2"; fi
if [ -d "$2" ]; then
    dir=$(cd "$2" && pwd -P)
else
    case "$2" in /*) dir=$2 ;; *) dir="$PWD/$2" ;; esac
fi
data="$dir/data"
run="$dir/run"
log="$dir/postgres.log"

fail() { printf 'pg-test-cluster: %s\n' "$*" >&2; exit 1; }

bin_dir() {
    local candidate
    for candidate in "$(pg_config --bindir 2>/dev/null || true)" \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
        if [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ] \
            && [ -x "$candidate/postgres" ]; then
            echo "$candidate"
            return
        fi
    done
    fail "the PostgreSQL server programs (initdb, pg_ctl, postgres) were not found; run tools/setup.sh" \
        "(or: apt-get install postgresql-15)"
}

# initdb and postgres refuse to run as root: as root, run them as the postgres system user.
as_server() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

case "$command" in
    start)
        bin=$(bin_dir)
        socket="$run/.s.PGSQL.$port"
        [ "${#socket}" -le 100 ] || fail "socket path $socket is too long for a Unix socket; use a shorter DIR"
        mkdir -p "$run"
        chmod 700 "$dir" "$run"
        if [ "$(id -u)" -eq 0 ]; then
            id postgres >/dev/null 2>&1 || fail "no postgres system user to run the server as; install postgresql-15"
            chown -R postgres: "$dir"
        fi
        if [ ! -f "$data/PG_VERSION" ]; then
            locale=C
            if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
            as_server "$bin/initdb" -D "$data" -U optune --auth=trust -E UTF8 --locale="$locale" \
                --no-instructions --no-sync >"$dir/initdb.log" 2>&1 \
                || { cat "$dir/initdb.log" >&2; fail "initdb failed"; }
            as_server tee -a "$data/postgresql.conf" >/dev/null <<CONF

# tools/pg-test-cluster.sh: a throwaway cluster for tests
listen_addresses = ''
port = $port
unix_socket_directories = '$run'
unix_socket_permissions = 0700
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
        fi
        if as_server "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; then
            echo "pg-test-cluster: already running in $data"
        elif ! as_server "$bin/pg_ctl" start -D "$data" -w -t 60 -l "$log" >/dev/null; then
            echo "--- last lines of $log:" >&2
            tail -n 20 "$log" >&2 || true
            fail "the server did not start"
        else
            echo "pg-test-cluster: started in $data (socket $socket)"
        fi
        ;;
    stop)
        [ -f "$data/PG_VERSION" ] || exit 0
        bin=$(bin_dir)
        if as_server "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; then
            as_server "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
            echo "pg-test-cluster: stopped"
        fi
        ;;
    url)
        echo "postgresql:///postgres?host=$run&port=$port&user=optune"
        ;;
    *)
        usage
        ;;
esac
