# lib.sh: what the benchmarks share. Sourced after the caller sets ROOT, CONNS, DURATION,
# WARMUP, THREADS and START_DEADLINE; provides logging, cleanup of every process started, tool
# installation, wrk runs with CPU accounting (run_wrk), and an emrlab to measure (start_emrlab,
# login_and_pick). Results land in the NAME RPS P50 P99 ERRS SRVUS DBUS ALLUS BUSY arrays.
# shellcheck shell=bash

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "FAILED: $*"
    exit 1
}

# --- cleanup: every process we started, the cluster, the temp dir -------------------------------
WORK=$(mktemp -d /tmp/emrlab-bench.XXXXXX)
chmod 755 "$WORK" # the postgres user must reach the cluster directory inside
PIDS=()
CLEANUP_HOOKS=() # commands run at exit, after the processes are stopped
PGDIR=''
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    for hook in "${CLEANUP_HOOKS[@]}"; do $hook >/dev/null 2>&1 || true; done
    if [[ -n $PGDIR ]]; then "$ROOT/scripts/pg-down" "$PGDIR" --rm >/dev/null 2>&1 || true; fi
    if [[ ${BENCH_KEEP:-} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_pid() { # PID: TERM, up to 10 s, then KILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

forget_pid() { # PID: stop it and drop it from the cleanup list
    local pid=$1 keep=() p
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

free_port() { "$ROOT/scripts/free-port"; }

# wait_http URL PID LOG: poll URL until 200, with a deadline, while PID lives.
wait_http() {
    local url=$1 pid=$2 logf=$3 deadline=$((SECONDS + START_DEADLINE))
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$logf" >&2 || true
            die "the server behind $url exited"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$logf" >&2 || true
            die "$url does not answer after ${START_DEADLINE} s"
        fi
        sleep 0.2
    done
}

need_apt() { # PACKAGE
    [[ $EUID -eq 0 ]] || die "$1 is missing; install it (apt-get install $1)"
    log "installing $1 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$1" >&2 ||
        { apt-get update -qq >&2 && apt-get install -y -qq "$1" >&2; } ||
        die "apt-get install $1 failed"
}

# --- measuring -------------------------------------------------------------------------------
# CPU accounting from /proc: clock ticks of the server under test, of our PostgreSQL cluster and
# of the whole machine, snapshotted before and after each measured run. The cluster's count is the
# postmaster's own ticks, those of its live children (backends, WAL writer...) and those of the
# children it has reaped (cutime/cstime): a backend that exits during the run (pgbench's, or one
# of emrlab's whose request was cut off when wrk stopped) is still counted.
cpu_ticks() { # PID...: user+system clock ticks of these processes so far (all threads)
    local pid stat total=0
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        total=$(awk -v t="$total" '{ print t + $12 + $13 }' <<<"$stat")
    done
    echo "$total"
}
pg_ticks() { # ticks of our cluster's processes, or "-" when none runs
    local pm stat reaped
    [[ -n $PGDIR && -f $PGDIR/postmaster.pid ]] || {
        echo -
        return
    }
    pm=$(head -n1 "$PGDIR/postmaster.pid")
    stat=$(cat "/proc/$pm/stat" 2>/dev/null) || {
        echo -
        return
    }
    stat=${stat##*) }
    reaped=$(awk '{ print $14 + $15 }' <<<"$stat")
    # shellcheck disable=SC2046
    echo $(($(cpu_ticks "$pm" $(ps -o pid= --ppid "$pm")) + reaped))
}
machine_ticks() { # "busy total" over all CPUs
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
cpu_snapshot() { # SERVER_PID ("-" for none): "server db machine_busy machine_total"
    local srv=-
    [[ $1 == - ]] || srv=$(cpu_ticks "$1")
    echo "$srv $(pg_ticks) $(machine_ticks)"
}

# Results, one associative array per field, keyed by the scenario letter.
declare -A NAME RPS P50 P99 ERRS SRVUS DBUS ALLUS BUSY
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# record_cpu KEY "BEFORE" "AFTER": CPU µs per request (server, database, machine) and busy %
record_cpu() {
    local key=$1 out
    out=$(awk -v a="$2" -v b="$3" -v hz="$HZ" -v rps="${RPS[$1]}" -v s="$DURATION" 'BEGIN {
        split(a, x, " "); split(b, y, " "); n = rps * s
        us = 1e6 / hz / (n > 0 ? n : 1)
        srv = "-"; if (x[1] != "-") srv = sprintf("%.0f", (y[1] - x[1]) * us)
        db = "-"; if (x[2] != "-" && y[2] != "-") db = sprintf("%.0f", (y[2] - x[2]) * us)
        all = sprintf("%.0f", (y[3] - x[3]) * us)
        dt = y[4] - x[4]; busy = 0; if (dt > 0) busy = 100 * (y[3] - x[3]) / dt
        printf "%s %s %s %.0f\n", srv, db, all, busy }')
    read -r "SRVUS[$key]" "DBUS[$key]" "ALLUS[$key]" "BUSY[$key]" <<<"$out"
}

# to_ms VALUE: wrk's "12.30ms" / "850.00us" / "1.20s" / "1.00m" in milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

# run_wrk KEY "NAME" SERVER_PID URL [wrk args...]: warm-up, then the measured run, parsed.
run_wrk() {
    local key=$1 name=$2 pid=$3 url=$4 out cpu0 cpu1 total non2xx sock
    shift 4
    NAME[$key]=$name
    log "$key $name: warm-up ${WARMUP}s"
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >"$WORK/wrk-$key-warmup.txt" 2>&1 ||
        die "wrk (warm-up) failed: $(cat "$WORK/wrk-$key-warmup.txt")"
    log "$key $name: measuring ${DURATION}s at $CONNS connections"
    cpu0=$(cpu_snapshot "$pid")
    out=$WORK/wrk-$key.txt
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$out" 2>&1 ||
        die "wrk failed: $(cat "$out")"
    cpu1=$(cpu_snapshot "$pid")
    RPS[$key]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    P50[$key]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    P99[$key]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    total=$(awk '/requests in/ { print $1 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    sock=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
    ERRS[$key]=$((${non2xx:-0} + ${sock:-0}))
    [[ -n ${RPS[$key]} && -n $total ]] || die "could not parse wrk output: $(cat "$out")"
    record_cpu "$key" "$cpu0" "$cpu1"
    log "$key $name: ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, ${ERRS[$key]} errors of $total"
    if ((ERRS[$key] * 100 > total)); then
        BROKEN+=("$key $name: ${ERRS[$key]} errors of $total requests (see wrk output below)")
        cat "$out" >&2
    fi
}
BROKEN=()

# --- emrlab lifecycle ------------------------------------------------------------------------
# start_emrlab TAG [--database-url URL]: sets EM_PID, EM_URL
start_emrlab() {
    local tag=$1 port
    shift
    port=$(free_port)
    mkdir -p "$WORK/$tag"
    log "starting emrlab ($tag) on 127.0.0.1:$port"
    EMRLAB_GATEWAY__RATE_LIMIT__KIND=off EMRLAB_AUTH__TOKEN_TTL=2h \
        "$EMRLAB" up --data-dir "$WORK/$tag" --gateway-addr "127.0.0.1:$port" "$@" \
        >"$WORK/emrlab-$tag.log" 2>&1 &
    EM_PID=$!
    PIDS+=("$EM_PID")
    EM_URL=http://127.0.0.1:$port
    wait_http "$EM_URL/health" "$EM_PID" "$WORK/emrlab-$tag.log"
    log "emrlab ($tag) is up: $(grep -m1 '^emrlab is up' "$WORK/emrlab-$tag.log" || true)"
}

# operator_login: sets OPERATOR, the operator's token at the emrlab at EM_URL (for knobs)
operator_login() {
    OPERATOR=$(curl -fsS -X POST "$EM_URL/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"username":"operator","password":"emrlab"}' | jq -er .access_token) || die "login as operator failed"
}

# knobs JSON: change knobs through the admin API of the emrlab at EM_URL, as $OPERATOR (a token)
knobs() {
    local code
    code=$(curl -sS -o "$WORK/knobs.txt" -w '%{http_code}' -X PUT "$EM_URL/api/v1/admin/knobs" \
        -H "authorization: Bearer $OPERATOR" -H 'content-type: application/json' -d "$1")
    [[ $code == 200 ]] || die "knob change $1 answered $code: $(cat "$WORK/knobs.txt")"
}

# login_and_pick: sets TOKEN, TASK_ID, PATIENT_ID from the running emrlab at EM_URL
login_and_pick() {
    local body
    body=$(curl -fsS -X POST "$EM_URL/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"username":"nurse.0001","password":"emrlab"}') || die "login as nurse.0001 failed"
    TOKEN=$(jq -er .access_token <<<"$body") || die "no access_token in the login answer: $body"
    body=$(curl -fsS "$EM_URL/api/v1/tasks?limit=1" -H "authorization: Bearer $TOKEN") ||
        die "GET /api/v1/tasks?limit=1 failed"
    TASK_ID=$(jq -er '.items[0].id' <<<"$body") || die "no seeded task: $body"
    PATIENT_ID=$(jq -er '.items[0].patient_id' <<<"$body") || die "no patient in: $body"
    # One of each request by hand, so that a broken setup fails here with its answer shown.
    local code
    code=$(curl -sS -o "$WORK/probe.txt" -w '%{http_code}' "$EM_URL/api/v1/tasks/$TASK_ID" \
        -H "authorization: Bearer $TOKEN")
    [[ $code == 200 ]] || die "GET /api/v1/tasks/$TASK_ID answered $code: $(cat "$WORK/probe.txt")"
    code=$(curl -sS -o "$WORK/probe.txt" -w '%{http_code}' -X POST "$EM_URL/api/v1/tasks" \
        -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "{\"title\":\"Check vital signs\",\"patient_id\":\"$PATIENT_ID\"}")
    [[ $code == 201 ]] || die "POST /api/v1/tasks answered $code: $(cat "$WORK/probe.txt")"
}
