-- wrk script: health reports at a steady rate. wrk has no fixed-rate mode, so
-- each connection waits DELAY_MS between requests: rate = connections * 1000 / DELAY_MS.
local services = tonumber(os.getenv("SERVICES") or "10000")
local key = os.getenv("NINES_API_KEY")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "10")
local counter = 0
local offset = 0

function setup(thread)
  offset = offset + 1
  thread:set("offset", offset * 104729)
end

function init(args)
  counter = offset or 0
end

function delay()
  return delay_ms
end

function request()
  counter = counter + 1
  local i = counter % services
  local body = string.format(
    '{"service":"svc-%d","status":"OPERATIONAL","nodeId":"bench/platform/prod/cluster-%d"}', i, i % 20)
  return wrk.format("POST", "/api/v1/health/report", { ["X-API-Key"] = key, ["Content-Type"] = "application/json" }, body)
end
