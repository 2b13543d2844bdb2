-- make bench-tail's wrk script (tools/bench-tail.sh): a workload script of
-- ../shared/bench/workload/requests (TAIL_SCRIPT, loaded as it is: its
-- request(), setup() and init()), with
--   - pacing when TAIL_RATE (requests per second, all threads) is set:
--     delay() holds each connection's next request until the thread's
--     next slot on a fixed schedule of TAIL_RATE / TAIL_THREADS per second;
--   - a RESULT line with p99.9 and the maximum besides load.sh's fields.
--
-- wrk takes delay() in whole milliseconds (its timers have that
-- resolution), and 64 connections at 100k rps need 0.64 ms between a
-- connection's requests: so the delay is the time to the slot rounded up
-- or down at random in proportion (its mean is exact).  The schedule, not
-- the delay, sets the rate: a request sent early moves the slots further
-- ahead, so the next delays grow, and the rate converges on TAIL_RATE as
-- long as the server keeps up.  A thread more than TAIL_SLACK_MS (100)
-- behind its schedule (the server stalled) restarts it from now: up to
-- that much it catches up, as clients that do not wait for the server
-- would, so a stall costs no throughput; beyond it the run would turn
-- into an unpaced one.  Unpaced (no TAIL_RATE), delay() is not defined at
-- all, as wrk then sends the next request at once.

local script = assert(os.getenv("TAIL_SCRIPT"), "TAIL_SCRIPT is not set")
dofile(script)

local rate = tonumber(os.getenv("TAIL_RATE") or "")
if rate and rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    struct tail_timespec { long tv_sec; long tv_nsec; };
    int clock_gettime(int clk_id, struct tail_timespec *tp);
  ]]
  local CLOCK_MONOTONIC = 1
  local ts = ffi.new("struct tail_timespec")
  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end

  local threads = tonumber(os.getenv("TAIL_THREADS") or "") or 2
  local interval = 1000 * threads / rate  -- ms between this thread's slots
  local slot
  local slack = tonumber(os.getenv("TAIL_SLACK_MS") or "") or 100
  local floor, random = math.floor, math.random

  function delay()
    local now = now_ms()
    if slot == nil or slot < now - slack then
      slot = now
    end
    slot = slot + interval
    local d = slot - now
    if d <= 0 then
      return 0
    end
    local whole = floor(d)
    if random() < d - whole then
      whole = whole + 1
    end
    return whole
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f"
      .. " non2xx=%d sockerr=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end
