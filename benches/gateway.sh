#!/usr/bin/env bash
# gateway.sh: gateway throughput and latency against references measured in the same run.
#
#   benches/gateway.sh
#
# Builds the release binaries, then measures with wrk (and pgbench), one scenario at a time:
#   A  hello-world (examples/hello.rs), GET /                         the machine's HTTP ceiling
#   B0 gateway GET /api/v1/tasks/{id}, SQLite, db.pool_size 10        ratio to A, informational
#   B  the same with db.pool_size = the CPU count                     ratio to A, target >= 0.15
#   C  gateway POST /api/v1/tasks, SQLite                             target >= 2,000 creates/s
#   D  gateway GET /api/v1/tasks/{id}, PostgreSQL                     ratio to A, informational
#   E  pgbench: the create's two INSERTs in one transaction           PostgreSQL's own ceiling
#   F  gateway POST /api/v1/tasks, PostgreSQL                         ratio to E >= 0.5, >= 2,000/s
# Progress goes to stderr, the result table to stdout. Missed targets are reported, not fatal;
# the exit status is non-zero only when something could not be run (or answered >1% errors).
#
# Environment: BENCH_CONNECTIONS (64), BENCH_DURATION (seconds, 15), BENCH_WARMUP (seconds, 3),
# BENCH_THREADS (wrk threads and pgbench -j, 2), BENCH_KEEP=1 keeps the temp dir (logs).
# PostgreSQL runs with fsync on (no PG_FAST): commits are durable, as in production.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-15}
WARMUP=${BENCH_WARMUP:-3}
THREADS=${BENCH_THREADS:-2}
READ_TARGET=0.15     # gateway read req/s ÷ hello req/s
REF_HELLO=100000     # hello-world req/s on the 2-core machine the targets were set on (DEVELOPERS.md)
CREATE_RATIO=0.5     # gateway creates/s ÷ pgbench TPS (PostgreSQL)
CREATE_ABS=2000      # creates/s on each database
START_DEADLINE=180   # seconds for a server (incl. seeding) to answer

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"


for v in CONNS DURATION WARMUP THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
((THREADS <= CONNS)) || die "BENCH_THREADS ($THREADS) must not exceed BENCH_CONNECTIONS ($CONNS)"

command -v wrk >/dev/null || need_apt wrk
[[ -x $PGBIN/pgbench ]] || need_apt postgresql-contrib
for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done

log "building release binaries (cargo build --release --bin emrlab --example hello)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab --example hello >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab
HELLO=$ROOT/target/release/examples/hello
LUA=$ROOT/benches/create_task.lua
PGSQL=$ROOT/benches/create_task.sql


# pgbench_pcts LOGPREFIX: "p50 p99" in ms from pgbench's per-transaction logs (3rd field: µs)
pgbench_pcts() {
    cat "$1".* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- -"; exit }
        i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "%.2f %.2f\n", v[i50] / 1000, v[i99] / 1000 }'
}


bench_read() { # KEY NAME
    run_wrk "$1" "$2" "$EM_PID" "$EM_URL/api/v1/tasks/$TASK_ID" -H "authorization: Bearer $TOKEN"
}
bench_create() { # KEY NAME
    BENCH_TOKEN=$TOKEN BENCH_PATIENT_ID=$PATIENT_ID run_wrk "$1" "$2" "$EM_PID" "$EM_URL" -s "$LUA"
}

# --- how busy is the machine before we load it? ---------------------------------------------------
m0=$(machine_ticks)
sleep 2
IDLE_BUSY=$(awk -v a="$m0" -v b="$(machine_ticks)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); dt = y[2] - x[2]; p = 0; if (dt > 0) p = 100 * (y[1] - x[1]) / dt
    printf "%.0f", p }')
if ((IDLE_BUSY > 10)); then
    log "warning: the machine was already ${IDLE_BUSY}% busy before the benchmark; figures will be low and noisy"
fi

# --- A: hello-world ----------------------------------------------------------------------------
port=$(free_port)
log "starting hello-world on 127.0.0.1:$port"
"$HELLO" "127.0.0.1:$port" >"$WORK/hello.log" 2>&1 &
HELLO_PID=$!
PIDS+=("$HELLO_PID")
wait_http "http://127.0.0.1:$port/" "$HELLO_PID" "$WORK/hello.log"
run_wrk A "hello-world GET /" "$HELLO_PID" "http://127.0.0.1:$port/"
forget_pid "$HELLO_PID"

# --- B, C: gateway on SQLite -------------------------------------------------------------------
start_emrlab sqlite
login_and_pick
operator_login
bench_read B0 "gateway GET /tasks/{id}, SQLite, pool 10"
# Through a pool, SQLite runs each query on its connection's own thread, and sqlx hands every
# released connection to that thread once more (a ping): more connections than CPUs only add
# thread switches to a CPU-bound read. With db.sqlite_inline_reads on (the default) the read
# takes no pooled connection and B0 and B run the same code; B's pool matters with it off. The
# default (10, the seed platform's) stays for C.
knobs "{\"db.pool_size\": $NCPU}"
bench_read B "gateway GET /tasks/{id}, SQLite, pool $NCPU"
knobs '{"db.pool_size": 10}'
bench_create C "gateway POST /tasks, SQLite"
forget_pid "$EM_PID"

# --- D, E, F: PostgreSQL -----------------------------------------------------------------------
PGDIR=$WORK/pg
log "starting a throwaway PostgreSQL 15 cluster (fsync on)"
PG_URL=$(PG_FAST='' "$ROOT/scripts/pg-up" "$PGDIR") || die "scripts/pg-up failed"
start_emrlab postgres --database-url "$PG_URL"
login_and_pick
bench_read D "gateway GET /tasks/{id}, PostgreSQL"

# E: pgbench with the ids of the same seeded rows (nurse.0001's organisation, the same patient)
ids=$("$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 "$PG_URL" \
    -c "SELECT org_id, id FROM practitioners WHERE username = 'nurse.0001'") ||
    die "psql could not read the seeded practitioner"
ORG_ID=${ids%%|*}
ACTOR_ID=${ids##*|}
[[ -n $ORG_ID && -n $ACTOR_ID && $ids == *"|"* ]] || die "nurse.0001 not found in PostgreSQL"
pgbench_run() { # DURATION LOGPREFIX
    local prefix=$2
    "$PGBIN/pgbench" -n -M prepared -c "$CONNS" -j "$THREADS" -T "$1" -f "$PGSQL" \
        -D org_id="$ORG_ID" -D patient_id="$PATIENT_ID" -D actor_id="$ACTOR_ID" \
        ${prefix:+--log --log-prefix="$prefix"} "$PG_URL"
}
NAME[E]="pgbench 2-INSERT tx, PostgreSQL"
log "E ${NAME[E]}: warm-up ${WARMUP}s"
pgbench_run "$WARMUP" '' >"$WORK/pgbench-warmup.txt" 2>&1 ||
    die "pgbench (warm-up) failed: $(cat "$WORK/pgbench-warmup.txt")"
log "E ${NAME[E]}: measuring ${DURATION}s at $CONNS clients"
backends() { ps -o pid= --ppid "$(head -n1 "$PGDIR/postmaster.pid")" | wc -l; }
n_backends=$(backends)
cpu0=$(cpu_snapshot -)
(cd "$WORK" && pgbench_run "$DURATION" "$WORK/pgbench-log") >"$WORK/pgbench.txt" 2>&1 ||
    die "pgbench failed: $(cat "$WORK/pgbench.txt")"
# pgbench's backends exit just after it does: wait (up to 5 s) until they are gone and counted
deadline=$((SECONDS + 5))
while (($(backends) > n_backends && SECONDS < deadline)); do sleep 0.05; done
cpu1=$(cpu_snapshot -)
RPS[E]=$(awk '/^tps = / { printf "%.0f", $3 }' "$WORK/pgbench.txt")
read -r 'P50[E]' 'P99[E]' < <(pgbench_pcts "$WORK/pgbench-log")
ERRS[E]=$(awk '/number of failed transactions:/ { print $5 }' "$WORK/pgbench.txt")
ERRS[E]=${ERRS[E]:-0}
[[ -n ${RPS[E]} ]] || die "could not parse pgbench output: $(cat "$WORK/pgbench.txt")"
record_cpu E "$cpu0" "$cpu1"
rm -f "$WORK"/pgbench-log.*
log "E ${NAME[E]}: ${RPS[E]} tps, p50 ${P50[E]} ms, p99 ${P99[E]} ms, ${ERRS[E]} failed"
((ERRS[E] == 0)) || BROKEN+=("E: pgbench reported ${ERRS[E]} failed transactions")

bench_create F "gateway POST /tasks, PostgreSQL"
forget_pid "$EM_PID"
"$ROOT/scripts/pg-down" "$PGDIR" --rm >/dev/null 2>&1 || log "warning: pg-down failed"
PGDIR=''

# --- report ------------------------------------------------------------------------------------
ratio() { # A B [DECIMALS]
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.*f", d, a / b; else printf "-" }'
}
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { r = "FAIL"; if (v != "-" && v + 0 >= t + 0) r = "PASS"; print r }'; }
declare -A REF=([A]='' [B0]=A [B]=A [C]='' [D]=A [E]='' [F]=E)

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "emrlab gateway benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
echo "machine: $NCPU CPUs (${cpu_model:-unknown}), ${IDLE_BUSY}% busy just before the run"
echo "load: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency after a ${WARMUP}s warm-up; pgbench -n -M prepared -c $CONNS -j $THREADS -T $DURATION"
echo
fmt='%-2s %-40s %-3s %8s %6s %8s %6s %8s %6s %6s %6s %6s %6s %5s\n'
# shellcheck disable=SC2059
printf "$fmt" '' scenario ref 'req/s' 'ratio' 'p50 ms' 'ratio' 'p99 ms' 'ratio' errors 'srv us' 'db us' 'all us' 'busy%'
# shellcheck disable=SC2059
printf "$fmt" -- ---------------------------------------- --- -------- ------ -------- ------ -------- ------ ------ ------ ------ ------ -----
for k in A B0 B C D E F; do
    r=${REF[$k]}
    if [[ -n $r ]]; then
        q=$(ratio "${RPS[$k]}" "${RPS[$r]}")
        l50=$(ratio "${P50[$k]}" "${P50[$r]}")
        l99=$(ratio "${P99[$k]}" "${P99[$r]}")
    else
        q=- l50=- l99=- r=-
    fi
    # shellcheck disable=SC2059
    printf "$fmt" "$k" "${NAME[$k]}" "$r" "${RPS[$k]}" "$q" "${P50[$k]}" "$l50" "${P99[$k]}" "$l99" \
        "${ERRS[$k]}" "${SRVUS[$k]}" "${DBUS[$k]}" "${ALLUS[$k]}" "${BUSY[$k]}"
done
echo
echo "ratio: to the row named in 'ref'; for req/s higher is better, for latency lower is better."
echo "us: CPU microseconds per request (pgbench: per transaction) used by the server under test (srv: hello"
echo "or emrlab), by PostgreSQL (db) and by the whole machine (all: includes wrk/pgbench and anything else"
echo "running); busy%: all $NCPU CPUs over the measured run. Near 100% busy, req/s ~ $NCPU x 10^6 / all us."
echo
read_ratio=$(ratio "${RPS[B]}" "${RPS[A]}" 3)
create_ratio=$(ratio "${RPS[F]}" "${RPS[E]}" 3)
tfmt='%-54s %10s %10s  %s\n'
# shellcheck disable=SC2059
printf "$tfmt" target measured goal result
# shellcheck disable=SC2059
printf "$tfmt" ------------------------------------------------------ ---------- ---------- ------
# shellcheck disable=SC2059
{
    printf "$tfmt" "B/A  gateway read / hello-world req/s (SQLite, pool $NCPU)" "$read_ratio" ">= $READ_TARGET" "$(verdict "$read_ratio" "$READ_TARGET")"
    printf "$tfmt" "F/E  gateway creates/s / pgbench TPS (PostgreSQL)" "$create_ratio" ">= $CREATE_RATIO" "$(verdict "$create_ratio" "$CREATE_RATIO")"
    printf "$tfmt" "C    gateway creates/s (SQLite)" "${RPS[C]}" ">= $CREATE_ABS" "$(verdict "${RPS[C]}" "$CREATE_ABS")"
    printf "$tfmt" "F    gateway creates/s (PostgreSQL)" "${RPS[F]}" ">= $CREATE_ABS" "$(verdict "${RPS[F]}" "$CREATE_ABS")"
}
echo
echo "The absolute goals (C, F) were set on a 2-core machine whose hello-world (A) does about $REF_HELLO"
echo "req/s; this one does $(ratio "${RPS[A]}" "$REF_HELLO") of that (pgbench, row E, is this machine's PostgreSQL ceiling for F)."

if ((${#BROKEN[@]})); then
    echo
    echo "NOT A VALID RUN:"
    printf '  %s\n' "${BROKEN[@]}"
    exit 1
fi
log "done"
