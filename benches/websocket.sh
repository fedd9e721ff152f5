#!/usr/bin/env bash
# websocket.sh: 10,000 WebSocket subscribers through the gateway, against a bare tokio-tungstenite
# broadcast server (examples/ws_broadcast.rs) with the same connection count, in one run.
#
#   bash benches/websocket.sh
#
# For each server: its resident memory before and after `emrlab load` (its own process, scenario
# benches/websocket-subscribers.toml) has opened WS_CONNECTIONS idle sockets, divided by that
# count; then WS_EVENTS events, one every WS_EVENT_INTERVAL seconds (emrlab: a task created over
# REST, each a `task.created` to every subscriber; reference: POST /publish with the same task as
# payload), and the latency from the server's publish to each subscriber's receipt (p50/p95/p99
# over every delivery), deliveries and drops. Targets (issue 6): emrlab <= 16 KiB per connection,
# p95 < 200 ms at 10,000 subscribers. Progress goes to stderr, the table to stdout; missed targets
# are reported, not fatal. The exit status is non-zero only when something could not be run.
#
# Environment: WS_CONNECTIONS (10000), WS_EVENTS (20), WS_EVENT_INTERVAL (seconds, 0.5),
# WS_RAMP (seconds to open every connection, 30), BENCH_KEEP=1 keeps the temp dir (logs, results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${WS_CONNECTIONS:-10000}
EVENTS=${WS_EVENTS:-20}
INTERVAL=${WS_EVENT_INTERVAL:-0.5}
RAMP=${WS_RAMP:-30}
MEM_TARGET_KIB=16 # per connection, emrlab
P95_TARGET_MS=200
START_DEADLINE=180
# The connections may lag the ramp on a busy machine: this long after it they must all be open.
REACH_SLACK=20
# lib.sh's wrk helpers are unused here; it wants these set.
CONNS=$N DURATION=0 WARMUP=0 THREADS=0

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

for v in N EVENTS RAMP; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ $INTERVAL =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "WS_EVENT_INTERVAL must be a number of seconds, got '$INTERVAL'"
for tool in curl jq python3 awk; do command -v "$tool" >/dev/null || die "$tool is required"; done

# --- open files: each server holds N sockets, and so does the load generator --------------------
# They are separate processes, so each needs N plus its own files (SQLite, listeners, pipes).
# This machine caps a process at 20,000 (the hard limit); take all of it.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then ulimit -n 1048576 2>/dev/null || true; else ulimit -n "$hard"; fi
FD_LIMIT=$(ulimit -n)
if ((N + 500 > FD_LIMIT)); then
    log "open files are capped at $FD_LIMIT per process (ulimit -Hn): $N connections need $((N + 500)); running $((FD_LIMIT - 500))"
    N=$((FD_LIMIT - 500))
fi

log "building the release binaries (emrlab, examples/ws_broadcast)"
(cd "$ROOT" && cargo build --release --quiet --bin emrlab --example ws_broadcast >&2) || die "cargo build failed"
EMRLAB=$ROOT/target/release/emrlab
BROADCAST=$ROOT/target/release/examples/ws_broadcast

m0=$(machine_ticks)
sleep 2
IDLE_BUSY=$(awk -v a="$m0" -v b="$(machine_ticks)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); dt = y[2] - x[2]; p = 0; if (dt > 0) p = 100 * (y[1] - x[1]) / dt
    printf "%.0f", p }')
((IDLE_BUSY <= 10)) || log "warning: the machine was already ${IDLE_BUSY}% busy; figures will be noisy"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# settled_rss PID: resident KiB once it stops moving (two readings 0.5 s apart within 256 KiB;
# the last handshakes and their allocations finish just after the count is reached), at most 5 s.
settled_rss() {
    local pid=$1 a b deadline=$((SECONDS + 5))
    a=$(rss_kib "$pid")
    while ((SECONDS < deadline)); do
        sleep 0.5
        b=$(rss_kib "$pid")
        ((b - a < 256 && a - b < 256)) && break
        a=$b
    done
    rss_kib "$pid"
}

# Results per side ("ref", "emr").
declare -A SRV_CPU LG_CPU HELD RSS0 RSS1 RSS2 PUBLISHED DELIVERED EXPECTED DROPS P50 P95 P99 FAILED SERVER_DROPS WHY

# measure TAG SERVER_PID URL WS_PATH TOKEN COUNT_FN PUBLISH_FN DROPS_FN
#   COUNT_FN prints the connections the server holds; PUBLISH_FN publishes one event (non-zero
#   when it could not); DROPS_FN prints what the server itself dropped.
measure() {
    local tag=$1 pid=$2 url=$3 path=$4 token=$5 count_fn=$6 publish_fn=$7 drops_fn=$8
    local hold lg out deadline held=0 best=0 i ok=0 events
    # The hold covers reaching the count, settling, publishing and the last deliveries.
    hold=$(awk -v s="$REACH_SLACK" -v e="$EVENTS" -v i="$INTERVAL" 'BEGIN { printf "%d", s + 5 + e * i + 10 }')
    sed -e "s|@CONNECTIONS@|$N|g" -e "s|@RAMP@|$RAMP|g" -e "s|@HOLD@|$hold|g" -e "s|@PATH@|$path|g" \
        -e "s|@TOKEN@|$token|g" "$ROOT/benches/websocket-subscribers.toml" >"$WORK/$tag.toml"
    RSS0[$tag]=$(settled_rss "$pid")
    log "$tag: opening $N WebSockets over ${RAMP}s (emrlab load, own process), server RSS $((RSS0[$tag] / 1024)) MiB"
    out=$WORK/$tag.json
    "$EMRLAB" load "$WORK/$tag.toml" --url "$url" --no-scrape --quiet --out "$out" >"$WORK/$tag-load.txt" 2>&1 &
    lg=$!
    PIDS+=("$lg")
    deadline=$((SECONDS + RAMP + REACH_SLACK))
    while ((SECONDS < deadline)); do
        held=$($count_fn || echo 0)
        ((held > best)) && best=$held
        ((held >= N)) && break
        kill -0 "$lg" 2>/dev/null || die "the load generator exited early: $(tail -n 5 "$WORK/$tag-load.txt")"
        sleep 0.5
    done
    if ((held < N)); then
        WHY[$tag]="reached $best of $N connections within ${RAMP}s + ${REACH_SLACK}s"
        log "$tag: ${WHY[$tag]}; measuring at $held"
    fi
    RSS1[$tag]=$(settled_rss "$pid")
    HELD[$tag]=$($count_fn || echo 0)
    log "$tag: ${HELD[$tag]} connections, server RSS $((RSS1[$tag] / 1024)) MiB; publishing $EVENTS events every ${INTERVAL}s"
    # CPU over the publishing (the last deliveries land within the final interval): where the
    # fan-out's time goes, server or subscribers, as both share the two cores.
    local srv0 lg0
    srv0=$(cpu_ticks "$pid")
    lg0=$(cpu_ticks "$lg")
    for ((i = 0; i < EVENTS; i++)); do
        $publish_fn && ok=$((ok + 1))
        sleep "$INTERVAL" # pacing, not synchronisation
    done
    PUBLISHED[$tag]=$ok
    SRV_CPU[$tag]=$(awk -v a="$srv0" -v b="$(cpu_ticks "$pid")" -v n="$ok" -v hz="$HZ" 'BEGIN { printf "%.0f", (n > 0 ? (b - a) * 1000 / hz / n : 0) }')
    LG_CPU[$tag]=$(awk -v a="$lg0" -v b="$(cpu_ticks "$lg")" -v n="$ok" -v hz="$HZ" 'BEGIN { printf "%.0f", (n > 0 ? (b - a) * 1000 / hz / n : 0) }')
    RSS2[$tag]=$(rss_kib "$pid")
    log "$tag: waiting for the load generator to finish its hold and write its result"
    deadline=$((SECONDS + RAMP + hold + 60))
    while kill -0 "$lg" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    kill -0 "$lg" 2>/dev/null && die "the load generator did not finish in time"
    wait "$lg" || die "emrlab load failed: $(tail -n 5 "$WORK/$tag-load.txt")"
    SERVER_DROPS[$tag]=$($drops_fn || echo -)
    # Only the 101s are deliveries; a failed step (refused, closed) is a 0 with its own latency.
    events='.steps[] | select(.name == "events")'
    DELIVERED[$tag]=$(jq -r "[$events | .by_status_class[\"1xx\"].requests // 0] | add // 0" "$out")
    FAILED[$tag]=$(jq -r "[$events | .failed] | add // 0" "$out")
    read -r "P50[$tag]" "P95[$tag]" "P99[$tag]" < <(jq -r "$events | .by_status_class[\"1xx\"].corrected // {}
        | \"\(.p50_ms // 0) \(.p95_ms // 0) \(.p99_ms // 0)\"" "$out")
    log "$tag: ${DELIVERED[$tag]} deliveries, p95 ${P95[$tag]} ms, ${FAILED[$tag]} failed subscriber steps"
}

# --- emrlab --------------------------------------------------------------------------------------
# The listener's cap counts HTTP too; the hub's caps only WebSockets. One token serves every
# subscriber, so its own cap must let N through.
export EMRLAB_GATEWAY__MAX_CONNECTIONS=$((N + 2000))
export EMRLAB_GATEWAY__WS__MAX_CONNECTIONS=$((N + 1000))
export EMRLAB_GATEWAY__WS__MAX_PER_TOKEN=$((N + 1000))
start_emrlab ws
login_and_pick # TOKEN and PATIENT_ID for the creates; its probe create is the reference's payload
cp "$WORK/probe.txt" "$WORK/payload.json"
SUB_TOKEN=$(curl -fsS -X POST "$EM_URL/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"nurse.0002","password":"emrlab"}' | jq -er .access_token) || die "login as nurse.0002 failed"

emr_metric() { # NAME FILTER: the sum of a metric's series whose line matches FILTER
    curl -fsS "$EM_URL/metrics" | awk -v m="$1" -v f="$2" '$1 ~ "^" m && $0 ~ f { n += $NF } END { printf "%d\n", n }'
}
emr_count() { emr_metric emrlab_ws_connections_open 'component="gateway"'; }
emr_publish() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$EM_URL/api/v1/tasks" \
        -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "{\"title\":\"Check drain\",\"patient_id\":\"$PATIENT_ID\",\"priority\":\"routine\"}")
    [[ $code == 201 ]] || {
        log "a create answered $code"
        return 1
    }
}
emr_drops() { emr_metric emrlab_ws_clients_dropped_total 'reason="slow_consumer"'; }
measure emr "$EM_PID" "$EM_URL" /api/v1/ws "$SUB_TOKEN" emr_count emr_publish emr_drops
forget_pid "$EM_PID"

# --- the reference -------------------------------------------------------------------------------
ws_port=$(free_port)
ctl_port=$(free_port)
"$BROADCAST" "127.0.0.1:$ws_port" "127.0.0.1:$ctl_port" >"$WORK/ws_broadcast.log" 2>&1 &
REF_PID=$!
PIDS+=("$REF_PID")
CTL=http://127.0.0.1:$ctl_port
wait_http "$CTL/stats" "$REF_PID" "$WORK/ws_broadcast.log"
ref_count() { curl -fsS "$CTL/stats" | jq -r .connections; }
ref_publish() {
    curl -fsS -o /dev/null -X POST "$CTL/publish" -H 'content-type: application/json' \
        --data-binary "@$WORK/payload.json"
}
ref_drops() { curl -fsS "$CTL/stats" | jq -r .lagged; }
measure ref "$REF_PID" "http://127.0.0.1:$ws_port" / "$SUB_TOKEN" ref_count ref_publish ref_drops
forget_pid "$REF_PID"

# --- the table -------------------------------------------------------------------------------------
per_conn() { awk -v a="${RSS0[$1]}" -v b="${RSS1[$1]}" -v n="${HELD[$1]}" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) / n : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
MEM_REF=$(per_conn ref)
MEM_EMR=$(per_conn emr)
for tag in ref emr; do
    EXPECTED[$tag]=$((PUBLISHED[$tag] * HELD[$tag]))
    DROPS[$tag]=$((EXPECTED[$tag] - DELIVERED[$tag]))
done
fmt='%-40s %16s %16s %8s\n'
echo
echo "emrlab WebSocket benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
echo "machine: $NCPU CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), ${IDLE_BUSY}% busy just before the run; open files $FD_LIMIT per process"
echo "load: emrlab load (own process), $N WebSockets opened over ${RAMP}s; then $EVENTS events, one every ${INTERVAL}s"
echo
# shellcheck disable=SC2059
{
    printf "$fmt" '' 'reference' 'emrlab' 'ratio'
    printf "$fmt" 'connections held' "${HELD[ref]}" "${HELD[emr]}" ''
    printf "$fmt" 'server RSS before (MiB)' "$(mib "${RSS0[ref]}")" "$(mib "${RSS0[emr]}")" ''
    printf "$fmt" 'server RSS, connections idle (MiB)' "$(mib "${RSS1[ref]}")" "$(mib "${RSS1[emr]}")" ''
    printf "$fmt" 'server RSS after the events (MiB)' "$(mib "${RSS2[ref]}")" "$(mib "${RSS2[emr]}")" ''
    printf "$fmt" 'memory per connection (KiB)' "$MEM_REF" "$MEM_EMR" "$(ratio "$MEM_EMR" "$MEM_REF")"
    printf "$fmt" 'events published' "${PUBLISHED[ref]}" "${PUBLISHED[emr]}" ''
    printf "$fmt" 'deliveries (expected)' "${DELIVERED[ref]} (${EXPECTED[ref]})" "${DELIVERED[emr]} (${EXPECTED[emr]})" ''
    printf "$fmt" 'drops (expected - delivered)' "${DROPS[ref]}" "${DROPS[emr]}" ''
    printf "$fmt" 'server drops (lagged msgs / 1013 closes)' "${SERVER_DROPS[ref]}" "${SERVER_DROPS[emr]}" ''
    printf "$fmt" 'failed subscriber steps' "${FAILED[ref]}" "${FAILED[emr]}" ''
    printf "$fmt" 'server CPU per event (ms)' "${SRV_CPU[ref]}" "${SRV_CPU[emr]}" "$(ratio "${SRV_CPU[emr]}" "${SRV_CPU[ref]}")"
    printf "$fmt" 'load generator CPU per event (ms)' "${LG_CPU[ref]}" "${LG_CPU[emr]}" ''
    printf "$fmt" 'publish-to-receipt p50 (ms)' "${P50[ref]}" "${P50[emr]}" "$(ratio "${P50[emr]}" "${P50[ref]}")"
    printf "$fmt" 'publish-to-receipt p95 (ms)' "${P95[ref]}" "${P95[emr]}" "$(ratio "${P95[emr]}" "${P95[ref]}")"
    printf "$fmt" 'publish-to-receipt p99 (ms)' "${P99[ref]}" "${P99[emr]}" "$(ratio "${P99[emr]}" "${P99[ref]}")"
}
echo
echo "memory: VmRSS delta / connections held; emrlab's is the whole \`emrlab up\` process (gateway and"
echo "services), kernel socket buffers not included. Latency: the event's \`time\` (stamped when the"
echo "server published it: emrlab's task service after the create, the reference on POST /publish) to"
echo "its arrival at each subscriber, every delivery counted; ratio: emrlab / reference. CPU per"
echo "event: user+system time of the process while the events were published (emrlab's includes the"
echo "create itself), divided by the events."
echo
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "<=" ? v <= t : v < t); print (ok ? "PASS" : "MISS") }'; }
held_verdict=PASS
((HELD[emr] >= ${WS_CONNECTIONS:-10000})) || held_verdict=MISS
printf '%-48s %10s %12s  %s\n' target measured goal result
printf '%-48s %10s %12s  %s\n' 'emrlab connections held at once' "${HELD[emr]}" ">= ${WS_CONNECTIONS:-10000}" "$held_verdict"
printf '%-48s %10s %12s  %s\n' 'emrlab memory per connection (KiB)' "$MEM_EMR" "<= $MEM_TARGET_KIB" "$(verdict "$MEM_EMR" "$MEM_TARGET_KIB" '<=')"
printf '%-48s %10s %12s  %s\n' "emrlab event latency p95 at ${HELD[emr]} (ms)" "${P95[emr]}" "< $P95_TARGET_MS" "$(verdict "${P95[emr]}" "$P95_TARGET_MS" '<')"
for tag in emr ref; do
    [[ -z ${WHY[$tag]:-} ]] || echo "note ($tag): ${WHY[$tag]}; see the logs with BENCH_KEEP=1"
done
