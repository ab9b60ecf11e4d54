-- wrk script for the benchmark: one script for every mode, so all runs are measured alike.
--
-- Arguments (after wrk's "--"): MODE FILE CONTENT_TYPE QUOTA [CLOSE]
--   MODE   "upload": POST FILE's bytes as the body with CONTENT_TYPE;
--          "url":    POST with no body (the image URL is already in the path);
--          "get":    plain GET (to measure the static image server).
--   QUOTA  responses per wrk thread before it stops (0 = run for the duration). A thread
--          that reaches it writes "bench-thread-done" to stderr, so the caller can end
--          wrk at once instead of waiting out -d.
--   CLOSE  "close": every request says "Connection: close", so each one comes on a new
--          connection (wrk reconnects after every response), as clients without a pool do.
-- done() prints one line "@@bench {json}" with the latency percentiles, the error counts
-- (non-2xx counted here, socket errors and timeouts from wrk) and the median of every
-- Server-Timing stage the service reported.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   mode, quota = args[1], tonumber(args[4]) or 0
   responses, non2xx, sampled, stopped = 0, 0, 0, false
   -- wrk copies only flat tables between threads: one global list per stage name
   stage_names = {}
   if mode == "upload" then
      local f = assert(io.open(args[2], "rb"))
      wrk.body = f:read("*a")
      f:close()
      wrk.headers["Content-Type"] = args[3]
   end
   if mode ~= "get" then
      wrk.method = "POST"
   end
   if args[5] == "close" then
      wrk.headers["Connection"] = "close"
   end
end

local MAX_SAMPLES = 20000  -- per thread; medians need no more

function response(status, headers, body)
   responses = responses + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
   local timing = headers["Server-Timing"] or headers["server-timing"]
   if timing and sampled < MAX_SAMPLES then
      sampled = sampled + 1
      for name, dur in timing:gmatch("([%w_%-]+)%s*;%s*dur=([%d%.]+)") do
         local key = "stage_" .. name
         local list = _G[key]
         if list == nil then
            list = {}
            _G[key] = list
            stage_names[#stage_names + 1] = name
         end
         list[#list + 1] = tonumber(dur)
      end
   end
   if quota > 0 and responses >= quota and not stopped then
      stopped = true
      io.stderr:write("bench-thread-done\n")
      io.stderr:flush()
      wrk.thread:stop()
   end
end

local function median(list)
   table.sort(list)
   local n = #list
   if n == 0 then return -1 end
   if n % 2 == 1 then return list[(n + 1) / 2] end
   return (list[n / 2] + list[n / 2 + 1]) / 2
end

function done(summary, latency, requests)
   local merged, total_non2xx, total_responses = {}, 0, 0
   for _, thread in ipairs(threads) do
      total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
      total_responses = total_responses + (thread:get("responses") or 0)
      for _, name in ipairs(thread:get("stage_names") or {}) do
         local all = merged[name] or {}
         for _, v in ipairs(thread:get("stage_" .. name) or {}) do all[#all + 1] = v end
         merged[name] = all
      end
   end
   local parts = {}
   for name, list in pairs(merged) do
      parts[#parts + 1] = string.format('"%s":%.4f', name, median(list))
   end
   local e = summary.errors
   io.write(string.format(
      '@@bench {"requests":%d,"responses":%d,"duration_us":%d,"bytes":%d,' ..
      '"non2xx":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,"stages":{%s}}\n',
      summary.requests, total_responses, summary.duration, summary.bytes,
      total_non2xx, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.mean, latency.max, table.concat(parts, ",")))
end
