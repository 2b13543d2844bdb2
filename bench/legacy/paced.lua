-- make bench-legacy: GET $REQ_PATH at a fixed offered load: each connection
-- waits PACE_MS between its requests (0: as fast as it can), so the
-- latency wrk reports is the server's at that load, not a queue's.
-- REQ_TOKENS=1 rotates the workload's "mix" session tokens (as W2 does).
local bench = dofile(os.getenv("BENCH_DIR") .. "/workload/requests/common.lua")
setup = bench.setup
done = bench.done

local pace = tonumber(os.getenv("PACE_MS") or "0")
local path = os.getenv("REQ_PATH") or "/trpc/user.me"

function init(args)
  local reqs = {}
  if os.getenv("REQ_TOKENS") == "1" then
    for k, t in ipairs(bench.tokens("mix")) do
      reqs[k] = wrk.format("GET", path, { Authorization = "Bearer " .. t })
    end
  else
    reqs[1] = wrk.format("GET", path)
  end
  bench.rotate(reqs)
end

if pace > 0 then
  function delay()
    return pace
  end
end
