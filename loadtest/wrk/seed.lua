-- wrk seeding: POST /items with unique names; each thread stops after `limit` responses.
-- Usage: wrk -t T -c C -d MAX -s seed.lua URL -- <limit per thread> <name prefix>
-- (wrk still waits for -d; `srelab bench` interrupts it once Redis holds enough items.)
local counter = 0
local responses = 0
local limit = 0
local prefix = "seed"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  limit = tonumber(args[1]) or 0
  prefix = args[2] or "seed"
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/items", {["Content-Type"] = "application/json"},
    '{"name":"' .. prefix .. '-' .. tostring(tid) .. '-' .. counter .. '"}')
end

function response(status, headers, body)
  responses = responses + 1
  if limit > 0 and responses >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
