#!/usr/bin/env bash
# Writes /etc/pgbouncer/pgbouncer.ini and userlist.txt from the environment, then runs the
# command. The variables are edoburu/pgbouncer's, so docker-compose.yml works with either image:
#   DB_HOST (required), DB_PORT 5432, DB_USER, DB_PASSWORD, DB_NAME (default: every database),
#   POOL_MODE transaction, AUTH_TYPE scram-sha-256, LISTEN_ADDR 0.0.0.0, LISTEN_PORT 6432,
#   MAX_CLIENT_CONN 500, DEFAULT_POOL_SIZE 20, MAX_PREPARED_STATEMENTS 200 (PgBouncer 1.21+:
#   prepared statements in transaction mode; 0 turns the tracking off).
set -Eeuo pipefail

: "${DB_HOST:?set DB_HOST: the PostgreSQL server}"
: "${DB_USER:?set DB_USER}"
: "${DB_PASSWORD:?set DB_PASSWORD}"
db=${DB_NAME:-*}
dir=/etc/pgbouncer

# The server login is in the userlist (plain text, so PgBouncer can answer SCRAM both ways).
target="host=$DB_HOST port=${DB_PORT:-5432}"
[[ $db != '*' ]] && target+=" dbname=$db"
umask 077
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" >"$dir/userlist.txt"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
$db = $target

[pgbouncer]
listen_addr = ${LISTEN_ADDR:-0.0.0.0}
listen_port = ${LISTEN_PORT:-6432}
unix_socket_dir =
auth_type = ${AUTH_TYPE:-scram-sha-256}
auth_file = $dir/userlist.txt
pool_mode = ${POOL_MODE:-transaction}
max_client_conn = ${MAX_CLIENT_CONN:-500}
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
max_prepared_statements = ${MAX_PREPARED_STATEMENTS:-200}
admin_users = $DB_USER
ignore_startup_parameters = extra_float_digits,options
INI
exec "$@"
