CREATE TABLE t (k TEXT, ts TIMESTAMPTZ, x BIGINT) WITH (connector = 'stream', event_time = 'ts');
CREATE TABLE out () WITH (connector = 'files', path = 'out');
INSERT INTO out SELECT k, window_start, window_end, count(*) AS n, sum(x) AS total
FROM HOP(t, ts, INTERVAL '2 seconds', INTERVAL '6 seconds') GROUP BY k, window_start, window_end;
