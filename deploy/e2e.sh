#!/usr/bin/env bash
# e2e.sh: the platform in containers, end to end, on images built without a registry.
#
#   deploy/e2e.sh                              # uses target/release/emrlab
#   EMRLAB_BINARY=path/to/emrlab deploy/e2e.sh
#
# Phases, each printed with its wall time ("== e2e api: 2s"):
#   images    deploy/local-images.sh (the debootstrap rootfs is cached: seconds when warm)
#   up        docker-compose up -d under a project name of its own
#   healthy   every container healthy and the seed job exited 0, within 180 s
#   limits    every container runs under the CPU and memory limit the compose file gives it
#             (docker inspect: HostConfig.NanoCpus and HostConfig.Memory)
#   api       log in through the gateway (nurse.0001 / emrlab), create a task and read it back
#   emr       a patient through the EMR service, from a simulated vendor
#   metrics   Prometheus scrapes every emrlab component (up == 1) and holds their series
#   outage    PostgreSQL killed: the gateway answers 503 with a JSON error within the database
#             acquire timeout (db.acquire_timeout, 5 s; the gateway waits 60 s for a service)
#   recovery  PostgreSQL started again: a login, a read and a write all succeed within 60 s
#   pgbouncer the task service again, through PgBouncer in transaction mode (profile pgbouncer,
#             3 server connections): 8 clients create, read and update 240 tasks, all succeed,
#             and PgBouncer's own statistics count their transactions
# The stack is always taken down with its volumes (trap EXIT). The gateway is published on 8080
# and Prometheus on 9090, or on free ports when those are taken (printed).
#
# Exit status: 0 when every phase passed; 1 when one failed (each failure prints the containers'
# state and the last log lines of the troubled ones; a failure of images, up or healthy stops the
# run, a failed check lets the next run). E2E_KNOWN_FAILURES="outage" reports that phase's
# failure without failing the run. No Docker engine: a message and exit 0 (the one case it
# skips); with an engine, a stack that does not come up fails, under CI=true too.
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

run_start=$SECONDS
acquire_timeout=5 # db.acquire_timeout's default, in seconds: the outage answer's deadline

say() { echo "e2e: $*" >&2; }

# ---- no Docker, no test --------------------------------------------------------------------
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
    say "skipped: no Docker engine answers ('docker info' failed); nothing was run"
    exit 0
fi
if command -v docker-compose >/dev/null; then
    compose_cmd=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
else
    say "FAILED: neither docker-compose nor the docker compose plugin is installed"
    exit 1
fi
for tool in curl python3; do
    command -v "$tool" >/dev/null || { say "FAILED: $tool is needed on the host"; exit 1; }
done

binary=${EMRLAB_BINARY:-target/release/emrlab}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/emrlab-e2e.XXXXXX")
project=emrlabe2e$$
env_file=$tmp/local.env

compose() { "${compose_cmd[@]}" -p "$project" --env-file "$env_file" -f "$repo/docker-compose.yml" "$@"; }

free_port() { # PREFERRED: it when nothing listens there, else any free port
    python3 - "$1" <<'PY'
import socket, sys
for port in (int(sys.argv[1]), 0):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}

diagnose() { # the containers' state, and the last log lines of those neither healthy nor done
    set +e
    say "containers:"
    compose ps >&2
    local id name state
    for id in $(compose ps -q); do
        state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
        read -r name state <<<"$state"
        [[ $state == "running 0 healthy" || $state == "exited 0" ]] && continue
        echo "---- ${name#/}: $state (last 20 log lines)" >&2
        docker logs --tail 20 "$id" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
    done
}

started=0
cleanup() {
    local rc=$?
    set +e
    if ((started)); then
        compose down -v --remove-orphans >/dev/null 2>&1 || say "warning: docker-compose down failed for project $project"
    fi
    rm -rf -- "$tmp"
    if ((rc == 0)); then
        echo "== e2e total: $((SECONDS - run_start))s (ok)"
    else
        echo "== e2e total: $((SECONDS - run_start))s (FAILED, exit $rc)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# phase NAME FUNCTION: run it and print its wall time. The stack's own phases (images, up,
# healthy) stop the run when they fail; a failing check is recorded and the next one runs (the
# stack still answers), unless it is listed in E2E_KNOWN_FAILURES (space-separated names), which
# reports it as a known failure and does not fail the run: for a defect already reported.
failed=()
phase() {
    local name=$1 fn=$2 start=$SECONDS rc=0
    "$fn" || rc=$?
    if ((rc == 0)); then
        echo "== e2e $name: $((SECONDS - start))s"
        return 0
    fi
    if [[ " ${E2E_KNOWN_FAILURES:-} " == *" $name "* ]]; then
        echo "== e2e $name: FAILED after $((SECONDS - start))s (known failure: E2E_KNOWN_FAILURES=${E2E_KNOWN_FAILURES})"
        return 0
    fi
    echo "== e2e $name: FAILED after $((SECONDS - start))s"
    failed+=("$name")
    ((started)) && diagnose
    case $name in images | up | healthy) exit 1 ;; esac
}

# ---- HTTP helpers: status in $status, body in $tmp/body, seconds in $elapsed ------------------
status='' elapsed=''
http() { # METHOD PATH [JSON] — through the gateway, with $token when set
    local method=$1 path=$2 data=${3:-} out
    local args=(-s -o "$tmp/body" -w '%{http_code} %{time_total}' -X "$method" --max-time 30
        -H 'content-type: application/json')
    [[ -n ${token:-} ]] && args+=(-H "authorization: Bearer $token")
    [[ -n $data ]] && args+=(-d "$data")
    out=$(curl "${args[@]}" "$gateway$path") || out="000 ${out#* }"
    status=${out%% *}
    elapsed=${out#* }
}
json() { # EXPR on the body as `d`, e.g. json 'd["id"]'; empty output when it does not apply
    python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2])
    print(v if not isinstance(v, (dict, list)) else json.dumps(v))
except Exception:
    pass' "$tmp/body" "$1"
}
expect() { # STATUS WHAT: fail unless the last answer had STATUS
    [[ $status == "$1" ]] && return 0
    say "$2: expected $1, got $status after ${elapsed}s: $(head -c 300 "$tmp/body" 2>/dev/null)"
    return 1
}
login() {
    token=
    http POST /api/v1/auth/login '{"username":"nurse.0001","password":"emrlab"}'
    expect 200 "POST /api/v1/auth/login" || return 1
    token=$(json 'd["access_token"]')
    [[ -n $token ]] || { say "login answered 200 without an access_token"; return 1; }
}

# ---- phases --------------------------------------------------------------------------------
phase_images() {
    "$repo/deploy/local-images.sh" --binary "$binary" --env-file "$env_file" >/dev/null
}

phase_up() {
    local gateway_port prometheus_port
    gateway_port=$(free_port 8080)
    prometheus_port=$(free_port 9090)
    [[ $gateway_port == 8080 ]] || say "port 8080 is taken: the gateway is published on $gateway_port"
    [[ $prometheus_port == 9090 ]] || say "port 9090 is taken: Prometheus is published on $prometheus_port"
    {
        echo "EMRLAB_GATEWAY_PORT=$gateway_port"
        echo "EMRLAB_PROMETHEUS_PORT=$prometheus_port"
    } >>"$env_file"
    gateway=http://127.0.0.1:$gateway_port
    prometheus=http://127.0.0.1:$prometheus_port
    started=1
    compose up -d --no-build >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; return 1; }
}

phase_healthy() {
    local deadline=$((SECONDS + 180)) id name state pending
    while :; do
        pending=()
        for id in $(compose ps -q); do
            state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
            read -r name s code health <<<"$state"
            name=${name#/}
            if [[ $name == *_migrate_* ]]; then
                [[ $s == exited && $code != 0 ]] && { say "$name (migrate + seed) exited with $code"; return 1; }
                [[ $s == exited ]] || pending+=("$name:$s")
            elif [[ $s != running ]]; then
                say "$name is $s (exit $code)"
                return 1
            elif [[ $health != healthy ]]; then
                pending+=("$name:$health")
            fi
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            say "not healthy after 180 s: ${pending[*]}"
            return 1
        fi
        sleep 1
    done
}

phase_limits() {
    local id name cpus memory unlimited=()
    for id in $(compose ps -q); do
        read -r name cpus memory < <(docker inspect -f '{{.Name}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}' "$id")
        name=${name#/}
        say "limits: $name: $(awk -v n="$cpus" 'BEGIN { printf "%.2f", n / 1e9 }') CPUs, $((memory / 1048576)) MiB"
        ((cpus > 0 && memory > 0)) || unlimited+=("$name")
    done
    ((${#unlimited[@]} == 0)) || { say "no CPU or memory limit on: ${unlimited[*]}"; return 1; }
}

phase_api() {
    local id title="e2e $project"
    login || return 1
    http GET '/api/v1/tasks?limit=1'
    expect 200 "GET /api/v1/tasks" || return 1
    patient=$(json 'd["items"][0]["patient_id"]')
    [[ -n $patient ]] || { say "the seeded task list is empty"; return 1; }
    http POST /api/v1/tasks "{\"title\":\"$title\",\"patient_id\":\"$patient\",\"priority\":\"urgent\"}"
    expect 201 "POST /api/v1/tasks" || return 1
    id=$(json 'd["id"]')
    http GET "/api/v1/tasks/$id"
    expect 200 "GET /api/v1/tasks/$id" || return 1
    [[ $(json 'd["title"]') == "$title" ]] || { say "task $id read back without its title"; return 1; }
}

phase_emr() {
    http GET "/api/v1/emr/patients/$patient"
    expect 200 "GET /api/v1/emr/patients/$patient" || return 1
    [[ $(json 'd["id"]') == "$patient" && -n $(json 'd["vendor"]') ]] ||
        { say "the EMR answer is not patient $patient from a vendor"; return 1; }
}

prom_query() { # PROMQL: the query's result vector as JSON
    curl -sG --max-time 5 "$prometheus/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["data"]["result"]))' 2>/dev/null || echo '[]'
}

phase_metrics() {
    local deadline=$((SECONDS + 60)) up series
    while :; do
        up=$(prom_query 'up{job=~"emrlab-.+"}' | python3 -c 'import json, sys
print(" ".join(sorted(x["metric"]["job"] + "=" + x["value"][1] for x in json.load(sys.stdin))))')
        # The services' own series, not just their scrape: HTTP histograms from every component.
        series=$(prom_query 'count by (component) (emrlab_http_request_duration_seconds_count)' |
            python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
        # Seven components: gateway, task, emr, sync, handover, epic, cerner.
        if [[ $(wc -w <<<"$up") == 7 && $up != *=0* && $series -ge 7 ]]; then
            say "Prometheus: $up; HTTP series from $series components"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            say "Prometheus after 60 s: up: '${up:-nothing}'; components with HTTP series: $series (want 7 and 7)"
            return 1
        fi
        sleep 2
    done
}

phase_outage() {
    local path code message
    compose kill postgres >/dev/null 2>&1 || { say "could not kill the postgres container"; return 1; }
    # A read through the task service's pool, and a login through the gateway's own.
    for path in '/api/v1/tasks?limit=1' login; do
        if [[ $path == login ]]; then
            local saved=$token
            login 2>/dev/null
            token=$saved
            path=/api/v1/auth/login
        else
            http GET "$path"
        fi
        code=$(json 'd["error"]')
        message=$(json 'd["message"]')
        say "database down: $path answered $status in ${elapsed}s: ${code:-no error code}: ${message:-no message}"
        if [[ $status != 503 || -z $code || -z $message ]]; then
            say "$path: expected 503 with a JSON error and message while the database is down"
            if [[ $status == 500 && $code == internal ]]; then
                say "  (the service mapped the lost database to 500 'internal': only sqlx::Error::PoolTimedOut" \
                    "becomes 503, and sqlx retries only a refused connection until db.acquire_timeout; a stopped" \
                    "container's name no longer resolves, so the connect fails at once with an I/O error)"
            fi
            return 1
        fi
        if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) + 1 else 1)' "$elapsed" "$acquire_timeout"; then
            :
        else
            say "$path: the 503 took ${elapsed}s, beyond db.acquire_timeout (${acquire_timeout}s) + 1 s"
            return 1
        fi
    done
}

phase_recovery() {
    # Recovered: one round of login, read and write all succeed. Rounds before it may fail: a
    # pooled connection opened before the outage fails the request that next uses it (500) unless
    # db.test_before_acquire is on; those are counted and printed, not failed.
    local deadline=$((SECONDS + 60)) rounds=0 failures=0 start=$SECONDS last=none
    compose start postgres >/dev/null 2>&1 || { say "could not start the postgres container"; return 1; }
    while :; do
        rounds=$((rounds + 1))
        if login 2>/dev/null && http GET '/api/v1/tasks?limit=1' && [[ $status == 200 ]] &&
            http POST /api/v1/tasks "{\"title\":\"after the outage\",\"patient_id\":\"$patient\"}" &&
            [[ $status == 201 ]]; then
            say "recovered $((SECONDS - start))s after PostgreSQL restarted; $failures request(s) failed before (last: $last)"
            return 0
        fi
        failures=$((failures + 1))
        last="$status $(json 'd["error"]')"
        if ((SECONDS >= deadline)); then
            say "no recovery 60 s after PostgreSQL restarted: the last round answered $last"
            return 1
        fi
        sleep 0.5
    done
}

phase_pgbouncer() {
    local xacts
    # --no-deps: only the task service is pointed at PgBouncer; the others keep PostgreSQL.
    EMRLAB_DATABASE_URL=postgres://emrlab:emrlab@pgbouncer:6432/emrlab PGBOUNCER_POOL_SIZE=3 \
        compose --profile pgbouncer up -d --no-build --no-deps pgbouncer task >"$tmp/pgbouncer.log" 2>&1 ||
        { cat "$tmp/pgbouncer.log" >&2; return 1; }
    local deadline=$((SECONDS + 60))
    until [[ $(docker inspect -f '{{.State.Health.Status}}' "$(compose ps -q task)" 2>/dev/null) == healthy ]]; do
        ((SECONDS < deadline)) || { say "the task service is not healthy through PgBouncer after 60 s"; return 1; }
        sleep 1
    done
    python3 - "$gateway" "$patient" <<'PY' || return 1
import json, sys, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
base, patient = sys.argv[1:]
def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.read()[:200]
def client(n):
    # A login each: the gateway limits requests per token (burst 100), and 30 journeys are 90.
    status, login = call("POST", "/api/v1/auth/login", {"username": "nurse.0001", "password": "emrlab"})
    if status != 200:
        return [f"login: {status} {login}"]
    token, failures = login["access_token"], []
    for i in range(30):
        status, task = call("POST", "/api/v1/tasks", {"title": f"through PgBouncer {n}.{i}", "patient_id": patient}, token)
        if status != 201:
            failures.append(f"create: {status} {task}")
            continue
        status, read = call("GET", f"/api/v1/tasks/{task['id']}", token=token)
        if status != 200 or read["title"] != task["title"]:
            failures.append(f"read: {status} {read}")
            continue
        status, done = call("PUT", f"/api/v1/tasks/{task['id']}", {"status": "in_progress", "version": read["version"]}, token)
        if status != 200:
            failures.append(f"update: {status} {done}")
    return failures
with ThreadPoolExecutor(8) as pool:
    failures = [f for fs in pool.map(client, range(8)) for f in fs]
print(f"e2e: through PgBouncer: 240 journeys, {len(failures)} failed" + (f"; first: {failures[0]}" if failures else ""), file=sys.stderr)
sys.exit(1 if failures else 0)
PY
    # PgBouncer's admin console, from the postgres container's psql; the column by its name.
    xacts=$(compose exec -T postgres psql -A -F ' ' postgres://emrlab:emrlab@pgbouncer:6432/pgbouncer \
        -c 'SHOW STATS' 2>/dev/null |
        awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "total_xact_count") c = i } $1 == "emrlab" { print $c }')
    say "PgBouncer counted ${xacts:-no} transactions on database emrlab"
    [[ $xacts =~ ^[0-9]+$ ]] && ((xacts >= 720)) || { say "expected PgBouncer to count at least 720"; return 1; }
}

say "project $project, binary $binary"
phase images phase_images
phase up phase_up
phase healthy phase_healthy
phase limits phase_limits
phase api phase_api
phase emr phase_emr
phase metrics phase_metrics
phase outage phase_outage
phase recovery phase_recovery
phase pgbouncer phase_pgbouncer
if ((${#failed[@]})); then
    say "failed: ${failed[*]}"
    exit 1
fi
