#!/usr/bin/env bash
# emr.sh: EMR patient-read throughput and latency through the gateway, with the read-through cache
# off, in memory and in Redis, and with single flight on a hot key, against a reference measured
# in the same run: the gateway's GET /api/v1/tasks/{id} (the foundation benchmark's read).
#
#   benches/emr.sh
#
#   R  gateway GET /api/v1/tasks/{id}                                  the reference
#   N  GET /api/v1/emr/patients/{id}, every resilience knob off        the simulated vendor's latency
#   M  the same, emr.cache = memory (warm)                             target >= 0.5 R and >= 5,000/s
#   X  the same, emr.cache = redis (warm)                              informational
#   D  the same, emr.cache = off, emr.dedup = on (one hot key)         vendor calls collapse
# All at BENCH_CONNECTIONS (200) wrk connections. "vendor/s" is the simulated vendors' own count of
# patient reads per second (their /metrics), so a cache or single flight shows in it directly.
# Progress goes to stderr, the table to stdout. Missed targets are reported, not fatal.
#
# Environment: BENCH_CONNECTIONS (200), BENCH_DURATION (seconds, 15), BENCH_WARMUP (seconds, 3),
# BENCH_THREADS (wrk threads, 2), BENCH_KEEP=1 keeps the temp dir (logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS=${BENCH_CONNECTIONS:-200}
DURATION=${BENCH_DURATION:-15}
WARMUP=${BENCH_WARMUP:-3}
THREADS=${BENCH_THREADS:-2}
RATIO_TARGET=0.5 # cache-hit req/s ÷ reference req/s
ABS_TARGET=5000  # cache-hit req/s
START_DEADLINE=180

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

for v in CONNS DURATION WARMUP THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
command -v wrk >/dev/null || need_apt wrk
for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done

log "building the release binary (cargo build --release --bin emrlab)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab

log "starting a throwaway Redis"
REDIS_URL=$("$ROOT/scripts/redis-up" "$WORK/redis") || die "scripts/redis-up failed"
redis_down() { "$ROOT/scripts/redis-down" "$WORK/redis"; }
CLEANUP_HOOKS+=(redis_down)

start_emrlab sqlite --redis-url "$REDIS_URL"
login_and_pick
operator_login

vendor_reads() { # patient reads the simulated vendors have answered so far
    curl -fsS "$EM_URL/metrics" | awk '/^emrlab_vendor_requests_total/ && /operation="patient.read"/ { n += $NF }
        END { printf "%.0f\n", n }'
}

PATIENT_URL=$EM_URL/api/v1/emr/patients/$PATIENT_ID
probe=$(curl -sS -o "$WORK/probe.txt" -w '%{http_code}' "$PATIENT_URL" -H "authorization: Bearer $TOKEN")
[[ $probe == 200 ]] || die "GET $PATIENT_URL answered $probe: $(cat "$WORK/probe.txt")"

declare -A VENDOR
bench_patient() { # KEY NAME
    local before
    before=$(vendor_reads)
    run_wrk "$1" "$2" "$EM_PID" "$PATIENT_URL" -H "authorization: Bearer $TOKEN" --timeout 30s
    VENDOR[$1]=$(awk -v a="$before" -v b="$(vendor_reads)" -v s="$((DURATION + WARMUP))" \
        'BEGIN { printf "%.1f", (b - a) / s }')
}

run_wrk R "gateway GET /tasks/{id} (reference)" "$EM_PID" "$EM_URL/api/v1/tasks/$TASK_ID" -H "authorization: Bearer $TOKEN"
VENDOR[R]=-
knobs '{"emr.cache": "off", "emr.dedup": false, "emr.max_in_flight": "off", "emr.breaker.enabled": false, "emr.retries": 0}'
bench_patient N "EMR patient, resilience off"
knobs '{"emr.cache": "memory", "emr.dedup": true, "emr.max_in_flight": 64, "emr.breaker.enabled": true, "emr.retries": 2}'
bench_patient M "EMR patient, memory cache"
knobs '{"emr.cache": "redis"}'
bench_patient X "EMR patient, Redis cache"
knobs '{"emr.cache": "off", "emr.dedup": true}'
bench_patient D "EMR patient, dedup, hot key"

printf '\n%-3s %-38s %9s %9s %9s %7s %9s %7s\n' key scenario 'req/s' 'p50 ms' 'p99 ms' errors 'vendor/s' '÷ R'
for key in R N M X D; do
    ratio=$(awk -v a="${RPS[$key]}" -v r="${RPS[R]}" 'BEGIN { printf "%.2f", (r > 0 ? a / r : 0) }')
    printf '%-3s %-38s %9s %9s %9s %7s %9s %7s\n' "$key" "${NAME[$key]}" "${RPS[$key]}" "${P50[$key]}" \
        "${P99[$key]}" "${ERRS[$key]}" "${VENDOR[$key]}" "$ratio"
done
verdict=$(awk -v m="${RPS[M]}" -v r="${RPS[R]}" -v t="$RATIO_TARGET" -v abs="$ABS_TARGET" 'BEGIN {
    ratio = (r > 0 ? m / r : 0)
    printf "memory-cache hit path: %.2f of the reference (target >= %.2f: %s), %d req/s (target >= %d: %s)",
        ratio, t, (ratio >= t ? "PASS" : "MISS"), m, abs, (m >= abs ? "PASS" : "MISS") }')
printf '\n%s\n' "$verdict"
if ((${#BROKEN[@]} > 0)); then
    printf 'runs with more than 1%% errors:\n' >&2
    printf '  %s\n' "${BROKEN[@]}" >&2
    exit 1
fi
