-- wrk script: health reports cycling over SERVICES known services, as fast as possible.
-- Each wrk thread starts at a different offset so threads do not hit the same rows in step.
local services = tonumber(os.getenv("SERVICES") or "10000")
local key = os.getenv("NINES_API_KEY")
local counter = 0
local offset = 0
local statuses = { "OPERATIONAL", "OPERATIONAL", "OPERATIONAL", "DEGRADED", "DOWN" }

function setup(thread)
  offset = offset + 1
  thread:set("offset", offset * 7919)
end

function init(args)
  counter = offset or 0
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
