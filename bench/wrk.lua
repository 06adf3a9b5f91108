-- wrk script for the ngx_ds benchmark: every request carries the
-- partner's bearer token, a declared purpose and the client address a
-- trusted load balancer would pass (realip turns it into the address
-- the country lookup uses). The same headers go to every configuration,
-- plain proxy included, so only the gateway's work differs.
--
-- done() prints one machine-readable line for bench.py; the latency
-- numbers are wrk's own (microseconds).

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        return default
    end
    return v
end

wrk.method = env("DS_BENCH_METHOD", "GET")
wrk.headers["Authorization"] = "Bearer " .. env("DS_BENCH_TOKEN", "none")
wrk.headers["X-DS-Purpose"] = env("DS_BENCH_PURPOSE", "FRAUD_DETECTION")
wrk.headers["X-Forwarded-For"] = env("DS_BENCH_XFF", "127.0.0.1")

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "DS_BENCH_RESULT requests=%d duration_us=%d status_errors=%d " ..
        "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
        "p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f max_us=%d\n",
        summary.requests, summary.duration, e.status, e.connect, e.read,
        e.write, e.timeout, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.mean, latency.max))
end
