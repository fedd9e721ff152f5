#!/usr/bin/env bash
# authorizations.sh: insurance-unit reservations per second, p95, retries and give-ups of every
# `authorizations.concurrency` mode at 1, 8 and 32 concurrent clients, on one hot authorization
# and spread over the 55 seeded ones, on PostgreSQL and on SQLite, with a reference measured in
# the same run: pgbench running the `atomic` mode's statement (benches/reserve.sql) on the same
# rows at the same concurrency.
#
#   benches/authorizations.sh
#
# Every request books 1 unit through the gateway (wrk, benches/reserve.lua) as a nurse of the
# authorization's organisation. The seeded totals are raised to 10^9 units first, so a run
# measures booking, not running out (every answer is a 201, or a 503 when serializable gives up).
# "retries" is emrlab_authorization_retries_total over the measured run (each one a transaction
# PostgreSQL aborted with SQLSTATE 40001), "give-ups" the 503s after the retry budget.
# "÷ ref" compares a PostgreSQL row with pgbench at the same clients and spread.
# Targets (PostgreSQL, atomic): ≥ 0.5 of the reference and ≥ 3,000 reservations/s. Missed targets
# are reported, not fatal; the exit status is non-zero only when something could not be run.
# PostgreSQL runs with fsync on (no PG_FAST): commits are durable, as in production.
#
# Environment: BENCH_DURATION (seconds per run, 5), BENCH_WARMUP (seconds, 1), BENCH_CLIENTS
# ("1 8 32"), BENCH_MODES ("atomic row_lock serializable naive"), BENCH_BACKENDS
# ("postgres sqlite"), BENCH_KEEP=1 keeps the temp dir (logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CLIENT_COUNTS=${BENCH_CLIENTS:-"1 8 32"}
MODES=${BENCH_MODES:-"atomic row_lock serializable naive"}
BACKENDS=${BENCH_BACKENDS:-"postgres sqlite"}
RATIO_TARGET=0.5
ABS_TARGET=3000
START_DEADLINE=300
# lib.sh's wrk helpers read these; this script runs wrk itself, per client count.
CONNS=1
THREADS=1

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

for v in DURATION WARMUP; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
command -v wrk >/dev/null || need_apt wrk
[[ -x $PGBIN/pgbench ]] || need_apt postgresql-contrib
for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done

log "building the release binary (cargo build --release --bin emrlab)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab
SESSION=$(date -u -d 'tomorrow 09:00' +%Y-%m-%dT%H:%M:%SZ)

metric() { # NAME FILTER: the sum of a metric's series matching FILTER (a regex) on /metrics
    curl -fsS "$EM_URL/metrics" | awk -v n="$1" -v f="$2" '$1 ~ "^" n && $1 ~ f { s += $NF } END { printf "%.0f\n", s }'
}

# targets: sets HOT (one 1,000-unit authorization of the first organisation) and SPREAD (all 55),
# as TOKEN:ID pairs, with a nurse of each organisation (default profile: 800, 100, 100 nurses).
targets() {
    local user token ids
    HOT='' SPREAD=''
    for user in nurse.0001 nurse.0801 nurse.0901; do
        token=$(curl -fsS -X POST "$EM_URL/api/v1/auth/login" -H 'content-type: application/json' \
            -d "{\"username\":\"$user\",\"password\":\"emrlab\"}" | jq -er .access_token) ||
            die "login as $user failed"
        ids=$(curl -fsS "$EM_URL/api/v1/authorizations?limit=200" -H "authorization: Bearer $token" |
            jq -er '.items[].id') || die "listing $user's authorizations failed"
        for id in $ids; do SPREAD+="$token:$id "; done
        [[ -n $HOT ]] || HOT="$token:$(curl -fsS "$EM_URL/api/v1/authorizations?total_units=1000&limit=1" \
            -H "authorization: Bearer $token" | jq -er '.items[0].id')"
    done
    local n
    n=$(wc -w <<<"$SPREAD")
    ((n == 55)) || die "expected the 55 seeded authorizations, found $n"
}

declare -A WHERE CLIENTS P95 RETRIES GIVEUPS REF REFP95
KEYS=()

# reserve_run KEY BACKEND MODE WHERE(hot|spread) CLIENTS: wrk warm-up, then the measured run
reserve_run() {
    local key=$1 backend=$2 mode=$3 where=$4 clients=$5 targets out r0 r1 g0 g1 threads
    threads=$((clients < 2 ? 1 : 2))
    targets=$HOT
    [[ $where == hot ]] || targets=$SPREAD
    NAME[$key]="$backend $mode"
    WHERE[$key]=$where
    CLIENTS[$key]=$clients
    KEYS+=("$key")
    knobs "{\"authorizations.concurrency\": \"$mode\"}"
    BENCH_TARGETS=$targets BENCH_SESSION=$SESSION wrk -t"$threads" -c"$clients" -d"${WARMUP}s" \
        -s "$ROOT/benches/reserve.lua" "$EM_URL" >"$WORK/wrk-$key-warmup.txt" 2>&1 ||
        die "wrk (warm-up) failed: $(cat "$WORK/wrk-$key-warmup.txt")"
    r0=$(metric emrlab_authorization_retries_total "mode=\"$mode\"")
    g0=$(metric emrlab_authorization_retry_exhausted_total "mode=\"$mode\"")
    out=$WORK/wrk-$key.txt
    BENCH_TARGETS=$targets BENCH_SESSION=$SESSION wrk -t"$threads" -c"$clients" -d"${DURATION}s" \
        -s "$ROOT/benches/reserve.lua" "$EM_URL" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    r1=$(metric emrlab_authorization_retries_total "mode=\"$mode\"")
    g1=$(metric emrlab_authorization_retry_exhausted_total "mode=\"$mode\"")
    local total non2xx
    total=$(awk '/requests in/ { print $1 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    ERRS[$key]=${non2xx:-0}
    GIVEUPS[$key]=$((g1 - g0))
    RETRIES[$key]=$((r1 - r0))
    # Booked reservations per second: the 201s only.
    RPS[$key]=$(awk -v t="${total:-0}" -v e="${ERRS[$key]}" -v s="$DURATION" 'BEGIN { printf "%.0f", (t - e) / s }')
    P95[$key]=$(awk '/^p95_ms/ { print $2 }' "$out")
    [[ -n $total && -n ${P95[$key]} ]] || die "could not parse wrk output: $(cat "$out")"
    log "$key: ${RPS[$key]} reservations/s, p95 ${P95[$key]} ms, ${RETRIES[$key]} retries, ${GIVEUPS[$key]} give-ups, ${ERRS[$key]} non-201 of $total"
    if ((ERRS[$key] > GIVEUPS[$key])); then
        BROKEN+=("$key: ${ERRS[$key]} non-201 answers, ${GIVEUPS[$key]} of them give-ups: see $out")
        cat "$out" >&2
    fi
}

# pgbench_ref WHERE CLIENTS: the atomic statement under pgbench; sets REF and REFP95 for the pair
pgbench_ref() {
    local where=$1 clients=$2 count=55 threads prefix=$WORK/pgbench-$1-$2
    [[ $where == spread ]] || count=1
    threads=$((clients < 2 ? 1 : 2))
    "$PGBIN/pgbench" -n -M prepared -c "$clients" -j "$threads" -T "$WARMUP" -f "$ROOT/benches/reserve.sql" \
        -D count="$count" "$PG_URL" >"$prefix-warmup.txt" 2>&1 || die "pgbench failed: $(cat "$prefix-warmup.txt")"
    (cd "$WORK" && "$PGBIN/pgbench" -n -M prepared -c "$clients" -j "$threads" -T "$DURATION" \
        -f "$ROOT/benches/reserve.sql" -D count="$count" --log --log-prefix="$prefix-log" "$PG_URL") \
        >"$prefix.txt" 2>&1 || die "pgbench failed: $(cat "$prefix.txt")"
    REF[$where-$clients]=$(awk '/^tps = / { printf "%.0f", $3 }' "$prefix.txt")
    REFP95[$where-$clients]=$(cat "$prefix-log".* | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END { i = int(NR * 0.95); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 }')
    rm -f "$prefix-log".*
    log "pgbench $where, $clients clients: ${REF[$where-$clients]} tps, p95 ${REFP95[$where-$clients]} ms"
}

# raise_totals BACKEND: 10^9 units on every authorization, straight in the database
raise_totals() {
    if [[ $1 == postgres ]]; then
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "UPDATE authorizations SET total_units = 1000000000" ||
            die "raising the totals failed"
    else
        python3 - "$WORK/sqlite/emrlab.db" <<'PY' || die "raising the totals failed"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("UPDATE authorizations SET total_units = 1000000000")
db.commit()
PY
    fi
}

bench_backend() { # BACKEND
    local backend=$1 mode where clients
    if [[ $backend == postgres ]]; then
        PGDIR=$WORK/pg
        log "starting a throwaway PostgreSQL 15 cluster (fsync on)"
        PG_URL=$(PG_FAST='' "$ROOT/scripts/pg-up" "$PGDIR") || die "scripts/pg-up failed"
        start_emrlab postgres --database-url "$PG_URL"
    else
        start_emrlab sqlite
    fi
    operator_login
    targets
    raise_totals "$backend"
    if [[ $backend == postgres ]]; then
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "
            CREATE TABLE bench_targets AS
            SELECT row_number() OVER (ORDER BY a.total_units, a.number)::int AS n, a.id, a.org_id,
                   (SELECT p.id FROM practitioners p WHERE p.org_id = a.org_id AND p.role = 'nurse'
                    ORDER BY p.username LIMIT 1) AS actor_id
            FROM authorizations a;
            ALTER TABLE bench_targets ADD PRIMARY KEY (n);" || die "creating bench_targets failed"
        for where in hot spread; do
            for clients in $CLIENT_COUNTS; do pgbench_ref "$where" "$clients"; done
        done
    fi
    for mode in $MODES; do
        for where in hot spread; do
            for clients in $CLIENT_COUNTS; do
                reserve_run "${backend:0:2}-$mode-$where-$clients" "$backend" "$mode" "$where" "$clients"
            done
        done
    done
    forget_pid "$EM_PID"
}

for backend in $BACKENDS; do bench_backend "$backend"; done

printf '\n%-24s %-7s %7s %14s %8s %9s %8s %7s\n' scenario where clients 'reservations/s' 'p95 ms' retries give-ups '÷ ref'
for where in hot spread; do
    for clients in $CLIENT_COUNTS; do
        [[ -n ${REF[$where-$clients]:-} ]] || continue
        printf '%-24s %-7s %7s %14s %8s %9s %8s %7s\n' "pgbench atomic statement" "$where" "$clients" \
            "${REF[$where-$clients]}" "${REFP95[$where-$clients]}" - - 1.00
    done
done
MISSED=()
for key in "${KEYS[@]}"; do
    ratio=-
    ref=${REF[${WHERE[$key]}-${CLIENTS[$key]}]:-}
    if [[ $key == po-* && -n $ref ]]; then
        ratio=$(awk -v a="${RPS[$key]}" -v r="$ref" 'BEGIN { printf "%.2f", (r > 0 ? a / r : 0) }')
    fi
    printf '%-24s %-7s %7s %14s %8s %9s %8s %7s\n' "${NAME[$key]}" "${WHERE[$key]}" "${CLIENTS[$key]}" \
        "${RPS[$key]}" "${P95[$key]}" "${RETRIES[$key]}" "${GIVEUPS[$key]}" "$ratio"
done
best=0 best_key=''
for key in "${KEYS[@]}"; do
    [[ $key == po-atomic-* ]] || continue
    if ((RPS[$key] > best)); then best=${RPS[$key]} best_key=$key; fi
done
if [[ -n $best_key ]]; then
    ref=${REF[${WHERE[$best_key]}-${CLIENTS[$best_key]}]}
    ratio=$(awk -v a="$best" -v r="$ref" 'BEGIN { printf "%.2f", (r > 0 ? a / r : 0) }')
    printf '\nPostgreSQL atomic, best run (%s, %s clients): %s reservations/s, %s of pgbench (%s tps)\n' \
        "${WHERE[$best_key]}" "${CLIENTS[$best_key]}" "$best" "$ratio" "$ref"
    awk -v r="$ratio" -v t="$RATIO_TARGET" 'BEGIN { exit !(r >= t) }' || MISSED+=("atomic ÷ pgbench $ratio < $RATIO_TARGET")
    ((best >= ABS_TARGET)) || MISSED+=("atomic $best reservations/s < $ABS_TARGET")
    if ((${#MISSED[@]} > 0)); then printf 'target missed: %s\n' "${MISSED[@]}"; else printf 'targets met\n'; fi
fi
if ((${#BROKEN[@]} > 0)); then
    printf 'runs with unexpected errors:\n' >&2
    printf '  %s\n' "${BROKEN[@]}" >&2
    exit 1
fi
