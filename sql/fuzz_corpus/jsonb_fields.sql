CREATE TABLE t (id BIGINT, payload JSONB, ts TIMESTAMPTZ) WITH (connector = 'stream', event_time = 'ts');
CREATE TABLE out () WITH (connector = 'files', path = 'out');
INSERT INTO out
SELECT id, payload->>'name' AS name, payload->'geo'->>'city' AS city, payload->'tags'->>0 AS tag,
       CAST(payload->>'n' AS BIGINT) + 1 AS n1, payload->'geo' AS geo
FROM t WHERE payload->>'kind' = 'user';
