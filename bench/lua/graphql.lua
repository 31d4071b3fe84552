-- One GraphQL request per call, numbered: "{{i}}" in the body and in the header is replaced by an
-- index that cycles through [0, count) across all threads without two threads sharing one (so that
-- no two connections log in as the same user at once). With the method GET (F1's /auth/check) the
-- request has no body: only the header is numbered.
-- args: body, header ("Name: value" or ""), count, expected text in a good answer, threads, method
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  body_template = args[1]
  header_name, header_template = string.match(args[2] or "", "^([^:]+):%s*(.*)$")
  count = tonumber(args[3])
  expect = args[4]
  nthreads = tonumber(args[5]) or 1
  method = args[6] or "POST"
  next_index = id
  bad = 0
  wrk.method = method
  if method ~= "GET" then
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  local i = tostring(next_index % count)
  next_index = next_index + nthreads
  if header_name then
    wrk.headers[header_name] = string.gsub(header_template, "{{i}}", i)
  end
  if method == "GET" then
    return wrk.format(nil, nil, nil, nil)
  end
  local body = string.gsub(body_template, "{{i}}", i)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
    if bad == 1 then
      io.stderr:write("unexpected answer (" .. status .. "): " .. string.sub(body, 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bad": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, total_bad, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
