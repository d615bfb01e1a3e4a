-- wrk script for bench/webhooks.py: every wrk thread is one caller (run wrk with
-- as many threads as connections), posting the steps of whole calls in order,
-- as Twilio would: POST /ivr/voice, the menu steps the TwiML led to, then the
-- status callback.  The requests (form bodies like Twilio's, each with its
-- X-Twilio-Signature) are precomputed by webhooks.py, one file per thread:
--     BENCH_POOL/<thread>.tsv   path <TAB> signature <TAB> form body
-- A thread that reaches the end of its file starts it again ("wraps").
--
-- Every response is checked: 200 must be a TwiML <Response> with a <Gather>
-- (none of the benchmark's walks ends anywhere else; the apology has none),
-- 204 is the answer to a status callback; anything else is counted non-2xx.
--
-- Timing.  wrk starts each thread as soon as the main thread has set it up, so
-- on a busy 2-core machine the first threads load the server for a while before
-- the last one starts and before wrk's clock starts: wrk's own requests/s and
-- latency figures (which also include its coordinated-omission correction) are
-- then skewed.  So every request is timed here (clock_gettime, exact since each
-- thread has one connection), and the figures are taken over the window in
-- which all connections were running: from the last thread's first request to
-- the first thread's last answer.  done() writes both as JSON to BENCH_OUT, and
-- the window's latencies (µs, one a line) to BENCH_OUT.latencies.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local timespec = ffi.new("bench_timespec")
local function now_us()
   ffi.C.clock_gettime(1, timespec)  -- CLOCK_MONOTONIC, the same in every thread
   return tonumber(timespec.tv_sec) * 1000000 + tonumber(timespec.tv_nsec) / 1000
end

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local function load_pool()
   pool, is_status = {}, {}
   local file = assert(io.open(string.format("%s/%d.tsv", os.getenv("BENCH_POOL"), tid), "r"))
   for line in file:lines() do
      local path, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {
         ["Content-Type"] = "application/x-www-form-urlencoded",
         ["User-Agent"] = "TwilioProxy/1.1",
         ["Accept"] = "*/*",
      }
      if signature ~= "" then headers["X-Twilio-Signature"] = signature end
      table.insert(pool, wrk.format("POST", path, headers, body))
      table.insert(is_status, path:find("^/ivr/status") ~= nil)
   end
   file:close()
end

function init(args)
   -- wrk calls init on its main thread, one thread after another: keep it short
   -- (the pool is read by the thread itself, at its first request)
   pool = nil
   position, wraps, status_sent = 0, 0, 0
   ok_twiml, ok_status, bad_twiml, non2xx = 0, 0, 0, 0
   answered, sent_at, first_sent = 0, 0, 0
   latencies, finished = {}, {}
   -- wrk calls request() once on thread 0, before it runs, only to parse what it returns
   verifying = (tid == 0)
end

function request()
   if pool == nil then load_pool() end
   if verifying then
      verifying = false
      return pool[1]
   end
   position = position + 1
   if position > #pool then
      position = 1
      wraps = wraps + 1
   end
   if is_status[position] then status_sent = status_sent + 1 end
   sent_at = now_us()
   if first_sent == 0 then first_sent = sent_at end
   return pool[position]
end

function response(status, headers, body)
   local now = now_us()
   answered = answered + 1
   latencies[answered] = now - sent_at
   finished[answered] = now
   if status == 200 then
      if body:sub(1, 5) == "<?xml" and body:find("<Response>", 1, true) and body:find("</Response>", 1, true)
         and body:find("<Gather", 1, true) then
         ok_twiml = ok_twiml + 1
      else
         bad_twiml = bad_twiml + 1
      end
   elseif status == 204 then
      ok_status = ok_status + 1
   else
      non2xx = non2xx + 1
   end
end

local function percentile(sorted, p)
   if #sorted == 0 then return 0 end
   return sorted[math.max(1, math.ceil(#sorted * p / 100))]
end

function done(summary, latency, requests)
   local totals = {wraps = 0, status_sent = 0, ok_twiml = 0, ok_status = 0, bad_twiml = 0, non2xx = 0, answered = 0}
   local wrapped_threads = 0
   local per_thread = {}
   local window_start, window_end = 0, math.huge
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
      if (thread:get("wraps") or 0) > 0 then wrapped_threads = wrapped_threads + 1 end
      local lat, fin = thread:get("latencies") or {}, thread:get("finished") or {}
      table.insert(per_thread, {lat = lat, fin = fin})
      window_start = math.max(window_start, thread:get("first_sent") or 0)
      window_end = math.min(window_end, fin[#fin] or 0)
   end
   -- the answers that came in while every connection was running
   local inside, sum = {}, 0
   local fewest, most = nil, 0
   for _, t in ipairs(per_thread) do
      local n = 0
      for i = 1, #t.fin do
         if t.fin[i] > window_start and t.fin[i] <= window_end then
            inside[#inside + 1] = t.lat[i]
            sum = sum + t.lat[i]
            n = n + 1
         end
      end
      if fewest == nil or n < fewest then fewest = n end
      if n > most then most = n end
   end
   table.sort(inside)
   -- every latency in the window, for webhooks.py to merge the rounds of a run
   local dump = assert(io.open(os.getenv("BENCH_OUT") .. ".latencies", "w"))
   for i = 1, #inside, 1000 do
      dump:write(table.concat(inside, "\n", i, math.min(i + 999, #inside)), "\n")
   end
   dump:close()
   local seconds = math.max(0, window_end - window_start) / 1000000
   local e = summary.errors
   local fields = {
      string.format('"window": {"seconds": %.3f, "requests": %d, "rps": %.2f, "mean_us": %.1f, "p50_us": %.1f, '
                    .. '"p90_us": %.1f, "p99_us": %.1f, "p999_us": %.1f, "max_us": %.1f, "thread_fewest": %d, '
                    .. '"thread_most": %d}',
                    seconds, #inside, seconds > 0 and #inside / seconds or 0, #inside > 0 and sum / #inside or 0,
                    percentile(inside, 50), percentile(inside, 90), percentile(inside, 99), percentile(inside, 99.9),
                    inside[#inside] or 0, fewest or 0, most),
      string.format('"wrk": {"requests": %d, "duration_us": %d, "bytes": %d, "mean_us": %.1f, "p50_us": %d, '
                    .. '"p90_us": %d, "p99_us": %d, "max_us": %d}',
                    summary.requests, summary.duration, summary.bytes, latency.mean, latency:percentile(50),
                    latency:percentile(90), latency:percentile(99), latency.max),
      string.format('"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}',
                    e.connect, e.read, e.write, e.status, e.timeout),
      string.format('"threads": %d', #threads),
      string.format('"wrapped_threads": %d', wrapped_threads),
   }
   for name, value in pairs(totals) do
      table.insert(fields, string.format('"%s": %d', name, value))
   end
   local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   out:write("{" .. table.concat(fields, ", ") .. "}\n")
   out:close()
end
