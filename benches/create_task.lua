-- wrk script for benches/gateway.sh: POST /api/v1/tasks through the gateway.
-- Reads the bearer token and a patient id of the caller's organisation from the environment
-- (BENCH_TOKEN, BENCH_PATIENT_ID); every request creates one task (one task row + one audit row).
local token = os.getenv("BENCH_TOKEN")
local patient = os.getenv("BENCH_PATIENT_ID")
if token == nil or token == "" or patient == nil or patient == "" then
    error("create_task.lua needs BENCH_TOKEN and BENCH_PATIENT_ID in the environment")
end

wrk.method = "POST"
wrk.path = "/api/v1/tasks"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. token
wrk.body = string.format('{"title":"Check vital signs","patient_id":"%s"}', patient)
