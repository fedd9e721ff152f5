#!/usr/bin/env bash
# queries.sh: the query suite's knobs, each mode against its alternatives in one run, on
# PostgreSQL with the default seed profile and the large one (about a million tasks):
#   - the task list with its patients (`GET /api/v1/tasks?include=patient&limit=50`) in each
#     `tasks.patient_loading` mode: n_plus_one, join, batch;
#   - the dashboard (`GET /api/v1/dashboard/stats`) in each `dashboard.source` mode: live,
#     cached, materialized;
#   - a filtered task query (pending, stat, one assignee) with the seed indexes and without them
#     (`db.indexes` = seed | none).
#
#   benches/queries.sh
#
# Load comes from emrlab's own generator (`emrlab load`, closed model, BENCH_VUS connections as
# nurse.0001, rate limit off): a warm-up, then the measured run; p50/p95 are its corrected
# percentiles, req/s the 200s per second. "× base" divides each mode's req/s by the first mode of
# its group (n_plus_one, live, none): the reference measured in the same run on the same data.
# PostgreSQL is a throwaway scripts/pg-up cluster with fsync off (PG_FAST): every measured request
# is a read, and the large seed loads in minutes rather than tens of minutes.
# "failed" counts requests that did not get a 200 (a slow mode's 503s after the pool's acquire
# timeout among them). The exit status is non-zero only when something could not be run or most
# of a run's requests failed.
#
# Environment: BENCH_DURATION (seconds measured per mode, 10), BENCH_WARMUP (seconds, 3),
# BENCH_VUS (16), BENCH_PROFILES ("default large"), BENCH_KEEP=1 keeps the temp dir (logs, JSON).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
VUS=${BENCH_VUS:-16}
PROFILES=${BENCH_PROFILES:-"default large"}
# Seeding the large profile takes minutes before the gateway answers.
START_DEADLINE=3600
CONNS=$VUS
THREADS=2

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

for v in DURATION WARMUP VUS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done

log "building the release binary (cargo build --release --bin emrlab)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab

# The seed indexes by name, from the file the knob applies.
INDEX_NAMES=$(awk '/^CREATE INDEX/ { print "\x27" $6 "\x27" }' "$ROOT/migrations/indexes.sql" | paste -sd, -)
INDEX_COUNT=$(grep -c '^CREATE INDEX' "$ROOT/migrations/indexes.sql")

declare -A PROFILE GROUP MODE REQS P50 P95 FAILED
KEYS=()

# scenario PATH: a scenario file that logs in as nurse.0001 and GETs PATH in a loop
scenario() {
    local file=$WORK/scenario-$RANDOM.toml
    cat >"$file" <<EOF
name = "bench"

# Replaced by --vus and --duration.
[load]
model = "closed"
stages = [{ duration = "10s", target = 1 }]

[[setup.steps]]
name = "login"
request = "POST /api/v1/auth/login"
json = { username = "nurse.0001", password = "emrlab" }
check = { status = [200] }
capture = { token = "access_token" }

[[flows]]
name = "query"

[[flows.steps]]
name = "query"
request = "GET $1"
headers = { authorization = "Bearer \${token}" }
check = { status = [200] }
EOF
    printf '%s' "$file"
}

# measure PROFILE GROUP MODE PATH: warm-up, then the measured run, read from its result file
measure() {
    local profile=$1 group=$2 mode=$3 path=$4 key="$1/$2/$3" file out
    file=$(scenario "$path")
    out=$WORK/${key//\//-}.json
    log "$key: warm-up ${WARMUP}s"
    "$EMRLAB" load "$file" --url "$EM_URL" --vus "$VUS" --duration "${WARMUP}s" --quiet --no-scrape \
        >"$WORK/load-warmup.txt" 2>&1 || die "warm-up of $key failed: $(tail -5 "$WORK/load-warmup.txt")"
    log "$key: measuring ${DURATION}s at $VUS VUs"
    "$EMRLAB" load "$file" --url "$EM_URL" --vus "$VUS" --duration "${DURATION}s" --quiet --no-scrape \
        --out "$out" >"$WORK/load.txt" 2>&1 || die "run of $key failed: $(tail -5 "$WORK/load.txt")"
    PROFILE[$key]=$profile GROUP[$key]=$group MODE[$key]=$mode
    REQS[$key]=$(jq -er '.steps[] | select(.name == "query") | .requests - .failed' "$out")
    FAILED[$key]=$(jq -er '.steps[] | select(.name == "query") | .failed' "$out")
    P50[$key]=$(jq -er '.steps[] | select(.name == "query") | .corrected.p50_ms' "$out")
    P95[$key]=$(jq -er '.steps[] | select(.name == "query") | .corrected.p95_ms' "$out")
    KEYS+=("$key")
    log "$key: $((REQS[$key] / DURATION)) req/s, p50 ${P50[$key]} ms, p95 ${P95[$key]} ms, ${FAILED[$key]} failed"
    # A slow mode may time some requests out (the pool's acquire timeout: 503): that is the
    # bottleneck it shows, reported in the table. Mostly failures means the run itself is broken.
    ((FAILED[$key] * 2 <= REQS[$key] + FAILED[$key])) ||
        BROKEN+=("$key: ${FAILED[$key]} of $((REQS[$key] + FAILED[$key])) requests failed (see $out)")
}

# until_true SECONDS WHAT COMMAND...: polls COMMAND (every 0.5 s) until it succeeds
until_true() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || die "$what: not done after the deadline"
        sleep 0.5
    done
}

indexes_are() { # COUNT: the seed indexes present in the database number COUNT
    [[ $("$PGBIN/psql" -X -At "$PG_URL" -c "SELECT count(*) FROM pg_indexes WHERE indexname IN ($INDEX_NAMES)") == "$1" ]]
}

dashboard_source_is() { # SOURCE: the dashboard answers from SOURCE, with tasks counted
    curl -fsS "$EM_URL/api/v1/dashboard/stats" -H "authorization: Bearer $TOKEN" |
        jq -e --arg s "$1" '.source == $s and ([.tasks_by_status[]] | add) > 0' >/dev/null
}

bench_profile() { # PROFILE
    local profile=$1 db assignee filtered mode
    db=bench_${profile}
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_BASE/postgres" -c "CREATE DATABASE $db" ||
        die "creating database $db failed"
    PG_URL=$PG_BASE/$db
    log "seeding the $profile profile into PostgreSQL and starting emrlab (the large one takes minutes)"
    EMRLAB_SEED__PROFILE=$profile start_emrlab "$profile" --database-url "$PG_URL"
    operator_login
    login_and_pick
    assignee=$(curl -fsS "$EM_URL/api/v1/tasks?status=pending&priority=stat&limit=50" \
        -H "authorization: Bearer $TOKEN" | jq -er '[.items[].assignee_id | select(. != null)][0]') ||
        die "no pending stat task with an assignee to filter on"
    filtered="/api/v1/tasks?status=pending&priority=stat&assignee_id=$assignee&limit=50"
    "$PGBIN/psql" -X -q "$PG_URL" -c "ANALYZE" || die "ANALYZE failed"

    for mode in n_plus_one join batch; do
        knobs "{\"tasks.patient_loading\": \"$mode\"}"
        measure "$profile" "tasks?include=patient" "$mode" "/api/v1/tasks?include=patient&limit=50"
    done
    for mode in live cached materialized; do
        knobs "{\"dashboard.source\": \"$mode\"}"
        until_true 600 "dashboard.source = $mode" dashboard_source_is "$mode"
        measure "$profile" "dashboard" "$mode" "/api/v1/dashboard/stats"
    done
    knobs '{"db.indexes": "none"}'
    until_true 600 "dropping the seed indexes" indexes_are 0
    measure "$profile" "filtered tasks" "none" "$filtered"
    knobs '{"db.indexes": "seed"}'
    until_true 1800 "building the seed indexes" indexes_are "$INDEX_COUNT"
    "$PGBIN/psql" -X -q "$PG_URL" -c "ANALYZE tasks" || die "ANALYZE failed"
    measure "$profile" "filtered tasks" "seed" "$filtered"
    forget_pid "$EM_PID"
}

PGDIR=$WORK/pg
log "starting a throwaway PostgreSQL 15 cluster (fsync off: the measured requests only read)"
PG_FIRST=$(PG_FAST=1 "$ROOT/scripts/pg-up" "$PGDIR") || die "scripts/pg-up failed"
PG_BASE=${PG_FIRST%/*}
for profile in $PROFILES; do bench_profile "$profile"; done

printf '\nemrlab query benchmark — %s UTC, commit %s; %s VUs, %ss measured after %ss warm-up\n' \
    "$(date -u '+%F %H:%M')" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" "$VUS" "$DURATION" "$WARMUP"
printf '%-8s %-22s %-13s %9s %9s %9s %7s %7s\n' profile request mode 'req/s' 'p50 ms' 'p95 ms' '× base' failed
declare -A BASE
for key in "${KEYS[@]}"; do
    group="${PROFILE[$key]}/${GROUP[$key]}"
    rps=$(awk -v n="${REQS[$key]}" -v d="$DURATION" 'BEGIN { printf "%.0f", n / d }')
    [[ -n ${BASE[$group]:-} ]] || BASE[$group]=$rps
    ratio=$(awk -v a="$rps" -v b="${BASE[$group]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '%-8s %-22s %-13s %9s %9.2f %9.2f %7s %7s\n' "${PROFILE[$key]}" "${GROUP[$key]}" "${MODE[$key]}" \
        "$rps" "${P50[$key]}" "${P95[$key]}" "$ratio" "${FAILED[$key]}"
done
if ((${#BROKEN[@]} > 0)); then
    printf 'broken runs:\n' >&2
    printf '  %s\n' "${BROKEN[@]}" >&2
    exit 1
fi
