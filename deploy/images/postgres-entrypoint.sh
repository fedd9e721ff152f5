#!/usr/bin/env bash
# The local PostgreSQL image's entrypoint: the subset of the official image's behaviour that
# docker-compose.yml relies on. On the first start (no PGDATA/PG_VERSION) it runs initdb with
# POSTGRES_USER as superuser (default postgres) and POSTGRES_PASSWORD, allows password logins
# from any address (scram-sha-256, or POSTGRES_HOST_AUTH_METHOD), creates POSTGRES_DB (default
# the user's name) and runs /docker-entrypoint-initdb.d/*.sql and *.sh. Then it runs the
# command; `postgres …` gets pg_stat_statements preloaded unless the arguments set
# shared_preload_libraries themselves.
set -Eeuo pipefail

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

log() { echo "entrypoint: $*" >&2; }

# `docker run image -c work_mem=64MB` means postgres with those options, as in the official image.
if [[ ${1:-} == -* ]]; then
    set -- postgres "$@"
fi
[[ ${1:-} == postgres ]] || exec "$@"

# Started as root (`user: root`, a bind mount owned by someone else): fix ownership, drop to postgres.
if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    if [[ -z ${POSTGRES_PASSWORD:-} && $auth != trust ]]; then
        log "set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, for throwaway databases only)"
        exit 1
    fi
    initdb_args=(-D "$PGDATA" -U "$POSTGRES_USER" --encoding=UTF8 --locale=C.UTF-8
        --auth-local=trust "--auth-host=$auth")
    pwfile=
    if [[ -n ${POSTGRES_PASSWORD:-} ]]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        initdb_args+=("--pwfile=$pwfile")
    fi
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, as in the official image
    initdb "${initdb_args[@]}" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    [[ -n $pwfile ]] && rm -f -- "$pwfile"
    {
        echo "host all all all $auth"
    } >>"$PGDATA/pg_hba.conf"
    {
        echo "listen_addresses = '*'"
        echo "shared_preload_libraries = 'pg_stat_statements'"
    } >>"$PGDATA/postgresql.conf"

    # Socket only while we set up, so no client sees a half-made database.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    psql=(psql -v ON_ERROR_STOP=1 -X -q -U "$POSTGRES_USER" -d postgres)
    if [[ $POSTGRES_DB != postgres ]]; then
        "${psql[@]}" --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sql) log "running $f"; "${psql[@]}" -d "$POSTGRES_DB" -f "$f" ;;
            *.sh) log "running $f"; bash "$f" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    log "initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

# A cluster made elsewhere may lack the preload; the command line adds it unless told otherwise.
if [[ " $* " != *shared_preload_libraries* ]] &&
    ! grep -q "^shared_preload_libraries" "$PGDATA/postgresql.conf" 2>/dev/null; then
    set -- "$@" -c shared_preload_libraries=pg_stat_statements
fi
exec "$@"
