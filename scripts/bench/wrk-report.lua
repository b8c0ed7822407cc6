-- wrk reporter for the mosnd benchmark: prints one machine-readable line after the run, with the
-- p99.9 latency that `wrk --latency` does not show. Latencies are in microseconds.
-- MOSND_BENCH_PAUSE_MS set: each connection waits that long between requests (paced load; wrk
-- starts a request's clock when it writes it, so the pause is not in the latency).
local pause = tonumber(os.getenv("MOSND_BENCH_PAUSE_MS") or "")
if pause ~= nil and pause > 0 then
  delay = function() return pause end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"lat_mean_us":%.1f,"lat_max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
