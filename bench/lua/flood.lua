-- P4's flood: the frontend's Login operation as fast as wrk can send it, on every connection, never waiting
-- the retryAfterSeconds a refusal gives (a flood does not). "{{i}}" in the body is replaced by an index
-- that cycles through [0, count) across all threads, so that the seeded users' emails are taken in turn.
-- Every answer is sorted by kind: LoginSuccess, TooManyAttempts (the service shedding the load), 5xx,
-- another status, or another 200 answer (the first of each unexpected kind goes to stderr); done() prints
-- the counts as one "BENCH {json}" line for the harness (bench/wrk.py) to check.
-- args: body, count, threads
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  body_template = args[1]
  count = tonumber(args[2])
  nthreads = tonumber(args[3]) or 1
  next_index = id
  success, refused, server_errors, other_status, other = 0, 0, 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local i = tostring(next_index % count)
  next_index = next_index + nthreads
  return wrk.format(nil, nil, nil, string.gsub(body_template, "{{i}}", i))
end

local function report(kind, seen, status, body)
  if seen == 1 then
    io.stderr:write(kind .. " (" .. status .. "): " .. string.sub(body or "", 1, 300) .. "\n")
  end
end

function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
    report("server error", server_errors, status, body)
  elseif status ~= 200 then
    other_status = other_status + 1
    report("unexpected status", other_status, status, body)
  elseif string.find(body, '"LoginSuccess"', 1, true) then
    success = success + 1
  elseif string.find(body, '"TooManyAttempts"', 1, true) then
    refused = refused + 1
  else
    other = other + 1
    report("unexpected answer", other, status, body)
  end
end

function done(summary, latency, requests)
  local totals = {success = 0, refused = 0, server_errors = 0, other_status = 0, other = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "success": %d, "refused": %d, "server_errors": %d, ' ..
    '"other_status": %d, "other": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, totals.success, totals.refused, totals.server_errors,
    totals.other_status, totals.other, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
