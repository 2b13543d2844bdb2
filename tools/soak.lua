-- make soak (tools/soak.sh): one of the workload's wrk scripts, named by
-- env SOAK_SCRIPT, run unchanged, plus a count of the answers per second
-- of the wall clock and per status, so that every error can be placed
-- inside or outside an outage window.  done() prints the workload's
-- RESULT line, then one line per second and status:
--   SOAK <unix second> <status> <count>
dofile(assert(os.getenv("SOAK_SCRIPT"), "SOAK_SCRIPT is not set"))

local workload_setup, workload_done = setup, done
local threads = {}

function setup(thread)
    if workload_setup then workload_setup(thread) end
    threads[#threads + 1] = thread
end

-- per thread: counts["<second> <status>"]
counts = {}

function response(status, headers, body)
    local k = os.time() .. " " .. status
    counts[k] = (counts[k] or 0) + 1
end

function done(summary, latency, requests)
    if workload_done then workload_done(summary, latency, requests) end
    local all = {}
    for _, t in ipairs(threads) do
        for k, n in pairs(t:get("counts")) do
            all[k] = (all[k] or 0) + n
        end
    end
    for k, n in pairs(all) do
        io.write(string.format("SOAK %s %d\n", k, n))
    end
end
