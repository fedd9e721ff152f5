-- wrk script for benches/authorizations.sh: POST /api/v1/authorizations/{id}/reservations.
-- BENCH_TARGETS is a space-separated list of TOKEN:AUTHORIZATION_ID pairs (one token per
-- organisation, so every request stays in its tenant); each request books 1 unit on a pair drawn
-- at random (one pair: the hot authorization). BENCH_SESSION is the session's RFC 3339 time.
-- At the end it prints "p95_ms <value>" (wrk's --latency lists no 95th percentile).
local targets = {}
for token, auth in string.gmatch(os.getenv("BENCH_TARGETS") or "", "([^%s:]+):([^%s]+)") do
    targets[#targets + 1] = { token = "Bearer " .. token, path = "/api/v1/authorizations/" .. auth .. "/reservations" }
end
local session = os.getenv("BENCH_SESSION")
if #targets == 0 or session == nil or session == "" then
    error("reserve.lua needs BENCH_TARGETS (TOKEN:ID ...) and BENCH_SESSION in the environment")
end
local body = string.format('{"units":1,"scheduled_for":"%s"}', session)

function init(args)
    math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end

function request()
    local t = targets[math.random(#targets)]
    return wrk.format("POST", t.path, { ["content-type"] = "application/json", ["authorization"] = t.token }, body)
end

function done(summary, latency, requests)
    io.write(string.format("p95_ms %.2f\n", latency:percentile(95.0) / 1000))
end
