-- The wrk script of `benchmarks/serving.py --client wrk` (see benchmarks/_load_client.py for
-- why wrk is not the default: its latency statistics are wrong against fast servers).
--
--   wrk -t1 -cC -dDs --latency --timeout 10s -s benchmarks/_load.lua URL -- BODIES PATH [TOKEN]
--
-- Each request POSTs one JSON body (one line of the file BODIES) to PATH, cycling through
-- the lines; with TOKEN it sends `Authorization: Bearer TOKEN`. The requests are built once,
-- in init, so the client does as little as possible per request. At the end it prints one
-- line, "LOAD_JSON {...}", with the counts and the latency percentiles in microseconds.

local requests = {}
local next_index = 0

function init(args)
   local headers = { ["Content-Type"] = "application/json" }
   if args[3] ~= nil and args[3] ~= "" then
      headers["Authorization"] = "Bearer " .. args[3]
   end
   for line in io.lines(args[1]) do
      if #line > 0 then
         requests[#requests + 1] = wrk.format("POST", args[2], headers, line)
      end
   end
   if #requests == 0 then
      error("no request bodies in " .. args[1])
   end
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'LOAD_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
      '"write": %d, "status": %d, "timeout": %d, "p50_us": %.1f, "p90_us": %.1f, ' ..
      '"p99_us": %.1f, "max_us": %.1f, "mean_us": %.1f}\n',
      summary.requests, summary.duration, errors.connect, errors.read, errors.write,
      errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
