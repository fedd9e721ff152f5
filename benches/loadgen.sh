#!/usr/bin/env bash
# loadgen.sh: is emrlab's load generator as fast as wrk, and can it hold 10,000 VUs?
#
#   benches/loadgen.sh
#
# Measured in one run on this machine (release build, loopback):
#   1. wrk and `emrlab load` (closed model, HdrHistograms on) against the bare hello-world
#      (examples/hello.rs) at the same connection count; ratio emrlab/wrk, target >= 0.9.
#   2. `emrlab load benches/ten-thousand-vus.toml` against `emrlab serve stall`: 10,000 VUs with
#      5-10 s think time, each holding a keep-alive connection; the load generator's peak memory
#      (VmHWM), target < 500 MB.
# Environment: BENCH_CONNECTIONS (64), BENCH_DURATION (seconds, 15). Targets missed are reported,
# not fatal (the machine is shared); the exit status is non-zero only if something failed to run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-15}
WORK=$(mktemp -d /tmp/emrlab-loadbench.XXXXXX)
PIDS=()
log() { printf '[loadgen-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT
free_port() { "$ROOT/scripts/free-port"; }
wait_http() { # URL: until it answers, at most 30 s
    local deadline=$((SECONDS + 30))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || { log "$1 does not answer"; exit 1; }
        sleep 0.1
    done
}

command -v wrk >/dev/null || { log "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 || { apt-get update -qq >&2 && apt-get install -y -qq wrk >&2; }; }
command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >&2
# 10,000 VUs need 10,000 sockets in each of the two processes; 20,000 is this machine's cap.
ulimit -n 20000

log "building release binaries"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab --example hello >&2)
EMRLAB=$ROOT/target/release/emrlab
HELLO=$ROOT/target/release/examples/hello

# --- 1. requests/s against hello-world, wrk and emrlab load at the same connection count ---------
port=$(free_port)
"$HELLO" "127.0.0.1:$port" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/"
log "warm-up 3 s"
wrk -t2 -c"$CONNS" -d3s "http://127.0.0.1:$port/" >/dev/null
log "wrk: $CONNS connections, ${DURATION}s"
wrk_out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/")
wrk_rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$wrk_out")
wrk_p99=$(awk '$1 == "99%" { print $2 }' <<<"$wrk_out")
log "emrlab load: $CONNS VUs, ${DURATION}s"
"$EMRLAB" load --url "http://127.0.0.1:$port/" --vus "$CONNS" --duration "${DURATION}s" --workers 2 \
    --no-scrape --quiet --out "$WORK/hello.json" >"$WORK/hello.txt"
ours_rps=$(jq '.totals.requests_per_second | floor' "$WORK/hello.json")
ours_p99=$(jq '.all.corrected.p99_ms' "$WORK/hello.json")
ratio=$(awk -v a="$ours_rps" -v b="$wrk_rps" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9) ? "PASS" : "MISS" }')

# --- 2. 10,000 VUs with think time: the load generator's peak memory -----------------------------
sport=$(free_port)
"$EMRLAB" serve stall --addr "127.0.0.1:$sport" --workers 10000 --max-connections 12000 >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$sport/"
log "emrlab load: 10,000 VUs (ramp 20 s, hold 20 s)"
"$EMRLAB" load "$ROOT/benches/ten-thousand-vus.toml" --url "http://127.0.0.1:$sport" --no-scrape --quiet \
    --out "$WORK/vus.json" >"$WORK/vus.txt" &
lg=$!
peak_kb=0
while kill -0 "$lg" 2>/dev/null; do
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$lg/status" 2>/dev/null || echo 0)
    ((hwm > peak_kb)) && peak_kb=$hwm
    sleep 0.5
done
wait "$lg" || { log "the 10,000-VU run failed: $(tail -5 "$WORK/vus.txt")"; exit 1; }
peak_mb=$((peak_kb / 1024))
vus=$(jq '[.timeline[].vus] | max' "$WORK/vus.json")
vus_rps=$(jq '.totals.requests_per_second | floor' "$WORK/vus.json")
vus_failed=$(jq '.totals.failed' "$WORK/vus.json")
mem_verdict=$(awk -v m="$peak_mb" 'BEGIN { print (m < 500) ? "PASS" : "MISS" }')

printf '\n%-44s %12s %12s\n' "loadgen benchmark ($(nproc) CPUs, $(date +%F))" "req/s" "p99 ms"
printf '%-44s %12s %12s\n' "wrk -t2 -c$CONNS, hello-world" "$wrk_rps" "$wrk_p99"
printf '%-44s %12s %12s\n' "emrlab load --vus $CONNS, hello-world" "$ours_rps" "$ours_p99"
printf '%-44s %12s   target >= 0.90  %s\n' "ratio emrlab / wrk" "$ratio" "$verdict"
printf '%-44s %12s   (%s req/s, %s failed)\n' "10,000-VU run: VUs held at once" "$vus" "$vus_rps" "$vus_failed"
printf '%-44s %12s   target < 500 MB  %s\n' "10,000-VU run: load generator peak RSS (MB)" "$peak_mb" "$mem_verdict"
