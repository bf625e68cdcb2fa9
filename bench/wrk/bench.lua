-- The bench's wrk script: at the end, one line "BENCH_JSON {...}" carries the exact totals, so the
-- driver does not have to read back wrk's rounded text ("1.23GB").
--
-- No HEAD here: wrk 4.1 parses every answer as if it had a body, so with wrk.method = "HEAD" it waits
-- for the bytes that the answer's Content-Length announces and never completes a request. The bench
-- drives HEAD with ab instead (bench/ab.ts).

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f,"mean":%.3f}}\n',
    summary.duration, summary.requests, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
