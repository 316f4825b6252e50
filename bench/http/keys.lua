-- wrk script of the HTTP benchmark: GET /api/data with an X-API-Key header drawn so that keys
-- spread as an API's traffic does, a few callers hot and most seen now and then:
--   20% of requests from 100 hot keys        (each about 1 request in 500)
--   30% from 10,000 warm keys                (each about 1 in 33,000)
--   50% from 1,000,000 cold keys             (most seen once in a run)
-- Counts the answers by status, and prints one JSON line when wrk is done.
--
--   wrk -t1 -c4 -d10s -s keys.lua http://127.0.0.1:8000/api/data -- <seed>

local tiers = {
    { share = 0.2, keys = 100, name = "hot" },
    { share = 0.3, keys = 10000, name = "warm" },
    { share = 0.5, keys = 1000000, name = "cold" },
}

local threads = {}

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    -- Every round draws other keys (the seed is an argument), every thread its own.
    math.randomseed((tonumber(args[1]) or 1) * 1000 + id)
    ok, refused, other = 0, 0, 0
end

function request()
    local r = math.random()
    local tier = tiers[#tiers]
    for _, t in ipairs(tiers) do
        if r < t.share then
            tier = t
            break
        end
        r = r - t.share
    end
    local key = tier.name .. "-" .. math.random(tier.keys)
    return wrk.format(nil, nil, { ["X-API-Key"] = key })
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
    elseif status == 429 then
        refused = refused + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local counts = { ok = 0, refused = 0, other = 0 }
    for _, thread in ipairs(threads) do
        for name in pairs(counts) do
            counts[name] = counts[name] + thread:get(name)
        end
    end
    local e = summary.errors
    io.write(string.format(
        '{"requests": %d, "duration_us": %d, "ok": %d, "refused": %d, "other": %d, '
            .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
            .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
        summary.requests, summary.duration, counts.ok, counts.refused, counts.other,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.mean, latency.max))
end
