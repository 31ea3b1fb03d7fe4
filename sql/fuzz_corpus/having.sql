CREATE TABLE t (k TEXT, ts TIMESTAMPTZ, x BIGINT) WITH (connector = 'stream', event_time = 'ts');
CREATE TABLE out () WITH (connector = 'files', path = 'out');
INSERT INTO out SELECT k, window_start, count(*) AS n
FROM TUMBLE(t, ts, INTERVAL '10 seconds') GROUP BY k, window_start, window_end
HAVING count(*) >= 2 AND max(x) < 100 AND k <> 'ignored' AND window_start >= '2026-01-01T00:00:10Z';
