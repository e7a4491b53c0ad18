-- wrk script: health reports cycling over SERVICES known services, as fast as possible.
-- Each wrk thread starts at a different offset so threads do not hit the same rows in step
-- MIX=flap (the default) cycles the statuses so that nearly every report changes its
-- service's status (the worst case: every report is a transition the downtime engine
-- and the SLO worker must handle); MIX=steady sends OPERATIONAL only, as a healthy
-- fleet does, so reports after the first change nothing but the service's last-seen.
local services = tonumber(os.getenv("SERVICES") or "10000")
local key = os.getenv("NINES_API_KEY")
local counter = 0
local offset = 0
local statuses = { "OPERATIONAL", "OPERATIONAL", "OPERATIONAL", "DEGRADED", "DOWN" }
if os.getenv("MIX") == "steady" then
  statuses = { "OPERATIONAL" }
end

-- STRIDE (7919) apart, from START (0) on: seeding sets them to cover new services each round
local stride = tonumber(os.getenv("STRIDE") or "7919")
local start = tonumber(os.getenv("START") or "0")

function setup(thread)
  offset = offset + 1
  thread:set("offset", offset * stride)
end

function init(args)
  counter = (offset or 0) + start
end

function request()
  counter = counter + 1
  local i = counter % services
  local status = statuses[math.floor(counter / services) % #statuses + 1]
  local body = string.format(
    '{"service":"svc-%d","status":"%s","nodeId":"bench/platform/prod/cluster-%d","message":"bench"}',
    i, status, i % 20)
  return wrk.format("POST", "/api/v1/health/report", { ["X-API-Key"] = key, ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status ~= 200 and status ~= 201 then
    print("unexpected status " .. status .. ": " .. body)
    wrk.thread:stop()
  end
end
