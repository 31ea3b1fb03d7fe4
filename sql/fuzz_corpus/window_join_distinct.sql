CREATE TABLE e (kind BIGINT, id BIGINT, name TEXT, seller BIGINT, ts TIMESTAMPTZ)
  WITH (connector = 'stream', shards = 2, event_time = 'ts');
CREATE TABLE out () WITH (connector = 'files', path = 'out');
INSERT INTO out
SELECT p.id, p.name, p.starttime
FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
      FROM TUMBLE(e, ts, INTERVAL '10 seconds') WHERE kind = 0 GROUP BY id, name, window_start, window_end) AS p
JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
      FROM TUMBLE(e, ts, INTERVAL '10 seconds') WHERE kind = 1 GROUP BY seller, window_start, window_end) AS a
  ON p.id = a.seller AND p.starttime = a.starttime AND p.endtime = a.endtime;
