#!/usr/bin/env bash
# verify-storm.sh: the cascade the circuit breaker exists for, and its cure, on PostgreSQL.
#
#   benches/verify-storm.sh
#
# With both simulated vendors hanging (outage = hang), runs benches/verify-storm.toml (10 verifies
# and 10 task reads per second for 40 s) against emrlab twice:
#   seed      tasks.verify_mode = in_transaction, emr.breaker.enabled = false, emr.timeout = 30s,
#             tasks.verify_timeout = 35s, emr.max_in_flight = off: the seed platform's handler
#   defaults  emrlab's defaults: release_first, the breaker, a 10 s timeout, the bulkhead
# and prints, for each, the reads' and the verifies' latency and statuses. Then, with the
# defaults, ends the outage and measures how long the breaker takes to close (it is open for
# emr.breaker.open_for, 30 s, then probes). Progress to stderr, the table to stdout.
#
# Environment: BENCH_KEEP=1 keeps the temp dir (logs and result files).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS=1 DURATION=1 WARMUP=1 THREADS=1 # lib.sh's wrk settings; unused here
START_DEADLINE=180

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done
log "building the release binary (cargo build --release --bin emrlab)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab

PGDIR=$WORK/pg
log "starting a throwaway PostgreSQL 15 cluster"
PG_URL=$(PG_FAST=1 "$ROOT/scripts/pg-up" "$PGDIR") || die "scripts/pg-up failed"

login() { # USERNAME: prints an access token
    curl -fsS -X POST "$EM_URL/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"emrlab\"}" | jq -er .access_token || die "login as $1 failed"
}
breaker_states() { # "epic cerner" gauges: 0 closed, 1 open, 2 half open
    curl -fsS "$EM_URL/metrics" | awk '/^emrlab_emr_breaker_state/ {
        if ($0 ~ /vendor="epic"/) e = $NF; if ($0 ~ /vendor="cerner"/) c = $NF } END { print e " " c }'
}

HANG='{"vendors.epic.outage": "hang", "vendors.cerner.outage": "hang"}'
SEED='{"tasks.verify_mode": "in_transaction", "emr.breaker.enabled": false, "emr.timeout": "30s",
       "tasks.verify_timeout": "35s", "emr.max_in_flight": "off"}'

declare -A SUMMARY
storm() { # TAG KNOBS
    local tag=$1 out=$WORK/$1.json
    start_emrlab "$tag" --database-url "$PG_URL"
    OPERATOR=$(login operator)
    [[ $2 == '{}' ]] || knobs "$2"
    knobs "$HANG"
    log "$tag: verify storm with both vendors hanging (40 s, after the logins)"
    "$EMRLAB" load "$ROOT/benches/verify-storm.toml" --url "$EM_URL" --out "$out" --quiet >"$WORK/$tag-load.txt" 2>&1 ||
        [[ $? == 99 ]] || die "emrlab load failed: $(tail -n 20 "$WORK/$tag-load.txt")"
    SUMMARY[$tag]=$(jq -r --arg tag "$tag" '.steps[] | select(.name == "read task" or .name == "verify task") |
        [$tag, .name, .requests, (.corrected.p50_ms | floor), (.corrected.p95_ms | floor), (.corrected.p99_ms | floor),
         (.statuses | to_entries | map("\(.key)×\(.value)") | join(" "))] | @tsv' "$out")
    log "$tag: breakers (epic cerner) at the end: $(breaker_states)"
}

storm seed "$SEED"
forget_pid "$EM_PID"
storm defaults '{}'

log "ending the outage; verifying once a second until both breakers close"
knobs '{"vendors.epic.outage": "none", "vendors.cerner.outage": "none"}'
NURSE=$(login nurse.0001)
TASKS=$(curl -fsS "$EM_URL/api/v1/tasks?limit=50" -H "authorization: Bearer $NURSE" | jq -r '.items[].id')
ended=$SECONDS
closed=''
for ((i = 0; i < 120; i++)); do
    for task in $(shuf -n 4 <<<"$TASKS"); do
        curl -sS -o /dev/null -X POST "$EM_URL/api/v1/tasks/$task/verify" -H "authorization: Bearer $NURSE" || true
    done
    if [[ $(breaker_states) == "0 0" ]]; then
        closed=$((SECONDS - ended))
        break
    fi
    sleep 1
done
[[ -n $closed ]] || die "the breakers did not close within 120 s of the outage's end"

printf '\n%-9s %-12s %8s %9s %9s %9s  %s\n' config request count 'p50 ms' 'p95 ms' 'p99 ms' statuses
for tag in seed defaults; do
    while IFS=$'\t' read -r t name n p50 p95 p99 statuses; do
        printf '%-9s %-12s %8s %9s %9s %9s  %s\n' "$t" "$name" "$n" "$p50" "$p95" "$p99" "$statuses"
    done <<<"${SUMMARY[$tag]}"
done
printf '\nafter the outage ended, both breakers closed in %s s (open_for 30 s, then 3 probes)\n' "$closed"
