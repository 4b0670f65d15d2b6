#!/usr/bin/env bash
# Run the test suite on SQLite, then on a throwaway PostgreSQL cluster.
#
#   ./run_tests.sh                  # all backends in $FR_BACKENDS (default: "sqlite postgres")
#   ./run_tests.sh --sqlite         # only SQLite
#   ./run_tests.sh --postgres -x    # only PostgreSQL; other arguments go to pytest
#   ./run_tests.sh --no-conformance # skip Django's own generic-relations tests
#
# After the SQLite pass, conformance/run.py runs Django's own generic-relations tests against
# the library (the Django sdist is downloaded once into .venv/conformance-cache); it runs when
# no pytest arguments are given, or with --conformance, and is skipped with --no-conformance.
# Creates .venv (python3 >= 3.11) and installs ".[test]" into it when pyproject.toml changed.
# PostgreSQL: uses $DATABASE_URL when set; otherwise starts a temporary cluster from the
# server binaries (/usr/lib/postgresql/*/bin or PATH; $PG_BIN overrides) and removes it on exit.
# Each pytest run gets FR_DB=sqlite or FR_DB=postgres (plus DATABASE_URL) in its environment.
# Redis (tests/production): uses $REDIS_URL when set; otherwise starts a throwaway
# redis-server on a free port of 127.0.0.1 (nothing saved to disk), stopped on exit, and
# exports REDIS_URL to every pytest run. Without redis-server those tests skip (fail in CI).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_tests.sh: error: %s\n' "$*" >&2; exit 1; }

# --- arguments ---------------------------------------------------------------------------
selected=()
pytest_args=()
conformance=""
for arg in "$@"; do
    case $arg in
        --sqlite) selected+=(sqlite) ;;
        --postgres) selected+=(postgres) ;;
        --conformance) conformance=1 ;;
        --no-conformance) conformance=0 ;;
        *) pytest_args+=("$arg") ;;
    esac
done
if [ -z "$conformance" ]; then
    conformance=$([ ${#pytest_args[@]} -eq 0 ] && echo 1 || echo 0)
fi
if [ ${#selected[@]} -gt 0 ]; then
    backends=("${selected[@]}")
else
    read -r -a backends <<< "${FR_BACKENDS:-sqlite postgres}"
fi
[ ${#backends[@]} -gt 0 ] || die "no backend selected (FR_BACKENDS is empty)"
for b in "${backends[@]}"; do
    case $b in
        sqlite | postgres) ;;
        *) die "unknown backend '$b' (expected: sqlite, postgres)" ;;
    esac
done
if [ "${CI:-}" = true ]; then
    pytest_args=(-ra ${pytest_args[@]+"${pytest_args[@]}"})
fi

# --- virtualenv --------------------------------------------------------------------------
VENV_PY=.venv/bin/python
if [ ! -x "$VENV_PY" ]; then
    py=${PYTHON:-python3}
    command -v "$py" > /dev/null || die "'$py' not found: install Python >= 3.11 (or set PYTHON)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python >= 3.11 is required, but '$py' is $("$py" -V 2>&1)"
    log "creating .venv with $("$py" -V 2>&1)"
    "$py" -m venv .venv || die "could not create .venv (on Debian: apt-get install python3-venv)"
fi
"$VENV_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die ".venv does not run Python >= 3.11; remove it (rm -rf .venv) and retry"

stamp=.venv/.run_tests-installed
want=$("$VENV_PY" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())' \
    < pyproject.toml)
if [ "$(cat "$stamp" 2> /dev/null || true)" != "$want" ]; then
    log "installing .[test] into .venv"
    rm -f "$stamp"
    "$VENV_PY" -m pip install --quiet --no-input --disable-pip-version-check -e ".[test]" \
        || die "pip install -e '.[test]' failed"
    echo "$want" > "$stamp"
fi

# --- PostgreSQL --------------------------------------------------------------------------
pg_dir=""
pg_bin=""
pg_started=""
redis_dir=""
redis_pid=""

as_pg() {  # run a command as the postgres user when we are root
    if [ "$(id -u)" != 0 ]; then
        "$@"
    elif command -v runuser > /dev/null; then
        runuser -u postgres -- "$@"
    else
        su -s /bin/bash postgres -c "$(printf '%q ' "$@")"
    fi
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    if [ -n "$pg_dir" ]; then
        if [ -f "$pg_dir/data/postmaster.pid" ]; then
            as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop > /dev/null 2>&1 \
                || echo "run_tests.sh: warning: could not stop PostgreSQL in $pg_dir" >&2
        fi
        rm -rf "$pg_dir"
        pg_dir=""
    fi
    if [ -n "$redis_pid" ]; then
        { kill "$redis_pid" && wait "$redis_pid"; } 2> /dev/null || true
        redis_pid=""
    fi
    if [ -n "$redis_dir" ]; then
        rm -rf "$redis_dir"
        redis_dir=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

find_pg_bin() {  # directory holding initdb, pg_ctl and postgres
    local d
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && echo "$d" && return 0
    done
    command -v initdb > /dev/null || return 1
    d=$(dirname "$(readlink -f "$(command -v initdb)")")
    [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && echo "$d"
}

start_postgres() {
    if [ -n "${PG_BIN:-}" ]; then
        pg_bin=$PG_BIN
        if ! [ -x "$pg_bin/initdb" ] || ! [ -x "$pg_bin/pg_ctl" ] || ! [ -x "$pg_bin/postgres" ]
        then
            die "PG_BIN=$PG_BIN does not contain initdb, pg_ctl and postgres"
        fi
    elif ! pg_bin=$(find_pg_bin); then
        if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
            log "PostgreSQL server binaries not found; installing Debian package 'postgresql'"
            export DEBIAN_FRONTEND=noninteractive
            { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } \
                > /dev/null || die "apt-get install postgresql failed"
            pg_bin=$(find_pg_bin) || die "initdb still not found after installing postgresql"
        else
            die "PostgreSQL server binaries (initdb, pg_ctl) not found. Install PostgreSQL 15" \
                "(e.g. 'apt-get install postgresql'), set PG_BIN, or set DATABASE_URL."
        fi
    fi
    if [ "$(id -u)" = 0 ]; then
        id postgres > /dev/null 2>&1 \
            || die "running as root needs a 'postgres' system user (apt-get install postgresql)"
        pg_dir=$(mktemp -d /tmp/fr-pg.XXXXXX)
        chown postgres: "$pg_dir"
    else
        pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/fr-pg.XXXXXX")
    fi
    chmod 700 "$pg_dir"

    log "starting temporary PostgreSQL ($("$pg_bin/postgres" --version)) in $pg_dir"
    as_pg "$pg_bin/initdb" -A trust -U postgres -E UTF8 --locale=C -D "$pg_dir/data" \
        > "$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; die "initdb failed"; }

    local port attempt opts
    local free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    for attempt in 1 2 3; do
        port=$("$VENV_PY" -c "$free_port")
        opts="-k $pg_dir -p $port -c listen_addresses=127.0.0.1"
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 -o "$opts" \
            start > /dev/null; then
            pg_started=1
            break
        fi
        log "PostgreSQL did not start on port $port (attempt $attempt)"
    done
    if [ -z "$pg_started" ]; then
        tail -n 30 "$pg_dir/postgres.log" >&2 || true
        die "could not start PostgreSQL"
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/federated_relations"
    "$VENV_PY" -c 'import sys, psycopg
psycopg.connect(sys.argv[1], autocommit=True).execute("CREATE DATABASE federated_relations")' \
        "postgres://postgres@127.0.0.1:$port/postgres" || die "could not create the database"
    log "DATABASE_URL=$DATABASE_URL"
}

# --- Redis -------------------------------------------------------------------------------
start_redis() {  # a daemonless redis-server in the foreground of a background job
    local port attempt
    local free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    local ping='import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=1).ping()'
    redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/fr-redis.XXXXXX")
    log "starting temporary Redis ($(redis-server --version | cut -d' ' -f1-3)) in $redis_dir"
    for attempt in 1 2 3; do
        port=$("$VENV_PY" -c "$free_port")
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --dir "$redis_dir" --daemonize no --logfile "$redis_dir/redis.log" \
            < /dev/null > /dev/null 2>&1 &
        redis_pid=$!
        for _ in $(seq 50); do
            kill -0 "$redis_pid" 2> /dev/null || break
            if "$VENV_PY" -c "$ping" "redis://127.0.0.1:$port/0" 2> /dev/null; then
                export REDIS_URL="redis://127.0.0.1:$port/0"
                log "REDIS_URL=$REDIS_URL"
                return 0
            fi
            sleep 0.1
        done
        { kill "$redis_pid" && wait "$redis_pid"; } 2> /dev/null || true
        redis_pid=""
        log "Redis did not start on port $port (attempt $attempt)"
    done
    tail -n 30 "$redis_dir/redis.log" >&2 || true
    die "could not start Redis"
}

if [ -n "${REDIS_URL:-}" ]; then
    log "REDIS_URL=$REDIS_URL (given)"
elif command -v redis-server > /dev/null; then
    start_redis
elif [ "${CI:-}" = true ]; then
    log "redis-server not found: tests/production will fail (Debian package redis-server)"
else
    log "redis-server not found: tests/production will skip (Debian package redis-server)"
fi

# --- run ---------------------------------------------------------------------------------
failed=0
summary=()
for backend in "${backends[@]}"; do
    if [ "$backend" = postgres ] && [ -z "${DATABASE_URL:-}" ]; then
        start_postgres
    fi
    log "pytest on $backend"
    rc=0
    FR_DB=$backend .venv/bin/pytest ${pytest_args[@]+"${pytest_args[@]}"} || rc=$?
    case $rc in
        0) result="passed" ;;
        5) result="FAILED: no tests were collected (pytest exit code 5)" ;;
        *) result="FAILED (pytest exit code $rc)" ;;
    esac
    if [ "$rc" != 0 ]; then
        failed=1
        if [ "${CI:-}" = true ] && [ -n "$pg_started" ] && [ "$backend" = postgres ]; then
            log "last lines of the PostgreSQL server log:"
            tail -n 50 "$pg_dir/postgres.log" >&2 || true
        fi
    fi
    summary+=("$(printf '%-12s %s' "$backend:" "$result")")

    if [ "$backend" = sqlite ] && [ "$conformance" = 1 ]; then
        log "conformance: Django's own generic-relations tests (conformance/run.py)"
        rc=0
        FR_CONFORMANCE_CACHE=${FR_CONFORMANCE_CACHE:-.venv/conformance-cache} \
            "$VENV_PY" conformance/run.py || rc=$?
        if [ "$rc" = 0 ]; then
            result="passed"
        else
            result="FAILED (conformance/run.py exit code $rc)"
            failed=1
        fi
        summary+=("$(printf '%-12s %s' "conformance:" "$result")")
    fi
done

echo
log "summary"
printf '    %s\n' "${summary[@]}"
exit "$failed"
