CREATE TABLE t (name TEXT, ts TIMESTAMPTZ, x BIGINT, y FLOAT8) WITH (connector = 'stream', event_time = 'ts');
CREATE TABLE out () WITH (connector = 'files', path = 'out');
INSERT INTO out SELECT name,
  CASE WHEN x > 10 THEN 'big' WHEN x > 0 THEN 'small' ELSE 'none' END AS size,
  CASE x WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS word,
  CASE WHEN y IS NULL THEN x ELSE y END AS num,
  COALESCE(name, 'anonymous') AS who,
  COALESCE(y, x, 0) AS first_num,
  NULLIF(x, 0) AS nonzero
FROM t;
