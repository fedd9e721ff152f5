#!/usr/bin/env bash
# sync.sh: offline-sync batch throughput and latency, inline and async, against a reference
# measured in the same run: single writes through the task REST API (POST /api/v1/tasks).
#
#   benches/sync.sh
#
#   R      POST /api/v1/tasks (one write per request, wrk)               the reference, writes/s
#   I10    POST /api/v1/sync/changes, batches of 10, sync.mode = inline
#   I100   … batches of 100
#   I1000  … batches of 1,000 (the seed's largest)
#   A10, A100, A1000  the same with sync.mode = async (202 at once; workers merge)
# Each sync run is `emrlab load` with BENCH_VUS devices (the loadgen's sync step: init once, record
# N changes offline, push them as one batch, again) for BENCH_DURATION seconds, with
# sync.queue_capacity raised so that async mode queues every batch. "changes/s" is
# what the server merged (emrlab_sync_changes_total, applied) from the start of the run until the
# async queue drained, so async mode is not flattered by its quick 202s; "p95 ms" is what the
# devices waited for a batch's answer (a 202 in async mode). "÷ R" compares changes merged per
# second with REST writes per second. Progress goes to stderr, the table to stdout.
#
# Environment: BENCH_VUS (8), BENCH_DURATION (seconds, 15), BENCH_CONNECTIONS (wrk, 32),
# BENCH_WARMUP (seconds, 3), BENCH_THREADS (wrk threads, 2), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VUS=${BENCH_VUS:-8}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-15}
WARMUP=${BENCH_WARMUP:-3}
THREADS=${BENCH_THREADS:-2}
START_DEADLINE=180
DRAIN_DEADLINE=300

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

for v in VUS CONNS DURATION WARMUP THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
command -v wrk >/dev/null || need_apt wrk
for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done

log "building the release binary (cargo build --release --bin emrlab)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab

start_emrlab sqlite
login_and_pick
operator_login

metric() { # NAME FILTER: the sum of a metric's series matching FILTER (a regex) on /metrics
    curl -fsS "$EM_URL/metrics" | awk -v n="$1" -v f="$2" '$1 ~ "^" n && $1 ~ f { s += $NF } END { printf "%.0f\n", s }'
}

# The reference: one write per request through the task API (a create: the task row and its audit
# row, benches/create_task.lua). A PUT needs the version it read, which wrk cannot follow.
BENCH_TOKEN=$TOKEN BENCH_PATIENT_ID=$PATIENT_ID run_wrk R "POST /tasks, one write a request" "$EM_PID" "$EM_URL" \
    -s "$ROOT/benches/create_task.lua"

declare -A CPS BP95 BATCHES
# sync_run KEY MODE SIZE: one emrlab load run of devices pushing batches of SIZE in MODE
sync_run() {
    local key=$1 mode=$2 size=$3 scenario=$WORK/sync-$1.toml out=$WORK/sync-$1.json before started after
    NAME[$key]="sync batches of $size, $mode"
    knobs "{\"sync.mode\": \"$mode\"}"
    cat >"$scenario" <<EOF
name = "sync-bench-$key"
[load]
model = "closed"
start = $VUS
stages = [{ duration = "${DURATION}s", target = $VUS }]
graceful_stop = "60s"
[users]
pattern = "nurse.{n}"
count = 800
password = "emrlab"
[setup]
before_start = true
[[setup.steps]]
name = "login"
request = "POST /api/v1/auth/login"
json = { username = "\${user.username}", password = "\${user.password}" }
check = { status = [200] }
capture = { token = "access_token" }
[[flows]]
name = "device"
[[flows.steps]]
name = "sync init"
headers = { authorization = "Bearer \${token}" }
sync = { action = "init", device = "bench-$key-\${vu}", tasks = 10 }
[[flows.steps]]
name = "offline edits"
sync = { action = "edit", changes = "$size", fields = ["title", "description", "priority"] }
[[flows.steps]]
name = "sync batch"
headers = { authorization = "Bearer \${token}" }
sync = { action = "push" }
EOF
    before=$(metric emrlab_sync_changes_total 'result="applied"')
    started=$(date +%s.%N)
    log "$key ${NAME[$key]}: $VUS devices for ${DURATION}s"
    "$EMRLAB" load "$scenario" --url "$EM_URL" --out "$out" --quiet --no-scrape >"$WORK/sync-$key.txt" 2>&1 ||
        die "emrlab load failed: $(tail -n 30 "$WORK/sync-$key.txt")"
    local deadline=$((SECONDS + DRAIN_DEADLINE))
    until [[ $(metric emrlab_sync_queue_depth '') == 0 ]]; do
        ((SECONDS < deadline)) || die "the async queue did not drain in ${DRAIN_DEADLINE}s"
        sleep 0.2
    done
    after=$(metric emrlab_sync_changes_total 'result="applied"')
    CPS[$key]=$(awk -v a="$before" -v b="$after" -v t0="$started" -v t1="$(date +%s.%N)" \
        'BEGIN { printf "%.0f", (b - a) / (t1 - t0) }')
    BP95[$key]=$(jq -r '.steps[] | select(.name == "sync batch") | .corrected.p95_ms' "$out")
    BATCHES[$key]=$(jq -r '.steps[] | select(.name == "sync batch") | .requests' "$out")
    ERRS[$key]=$(jq -r '[.steps[] | select(.name != "login") | .failed] | add' "$out")
    log "$key: ${CPS[$key]} changes/s merged, batch p95 ${BP95[$key]} ms, ${BATCHES[$key]} batches, ${ERRS[$key]} failed"
}

# Async mode's queue takes every batch the devices send in a run, so what is measured is merging,
# not the back-pressure of a full queue (503 + Retry-After; the devices keep their changes).
knobs '{"sync.queue_capacity": 100000}'
for mode in inline async; do
    for size in 10 100 1000; do
        sync_run "${mode:0:1}$size" "$mode" "$size"
    done
done
knobs '{"sync.mode": "inline"}'

printf '\n%-6s %-36s %11s %9s %9s %7s %7s\n' key scenario 'changes/s' 'p95 ms' batches errors '÷ R'
printf '%-6s %-36s %11s %9s %9s %7s %7s\n' R "${NAME[R]}" "${RPS[R]}" "-" "-" "${ERRS[R]}" 1.00
for key in i10 i100 i1000 a10 a100 a1000; do
    ratio=$(awk -v a="${CPS[$key]}" -v r="${RPS[R]}" 'BEGIN { printf "%.2f", (r > 0 ? a / r : 0) }')
    printf '%-6s %-36s %11s %9.1f %9s %7s %7s\n' "${key^^}" "${NAME[$key]}" "${CPS[$key]}" "${BP95[$key]}" \
        "${BATCHES[$key]}" "${ERRS[$key]}" "$ratio"
done
printf '\nthe seed'"'"'s target: a batch of 10–60 changes answered in p95 < 2 s (I10, I100 bracket it)\n'
if ((${#BROKEN[@]} > 0)); then
    printf 'runs with more than 1%% errors:\n' >&2
    printf '  %s\n' "${BROKEN[@]}" >&2
    exit 1
fi
