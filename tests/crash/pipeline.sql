-- The crash test's pipeline (tests/crash/crash_test.cc): the Wild Rydes queries, plus a hopping
-- and a session query on a second stream. No idle_timeout: idleness follows the wall clock, and
-- the test compares a crashed run with an uninterrupted one, which must see the same watermarks.

CREATE TABLE unicorn_telemetry (
  "Name" TEXT, "StatusTime" TIMESTAMPTZ, "Latitude" FLOAT8, "Longitude" FLOAT8,
  "Distance" FLOAT8, "MagicPoints" INT, "HealthPoints" INT, "Seq" BIGINT
) WITH (connector = 'stream', shards = 4, format = 'json', event_time = 'StatusTime',
        watermark_delay = '5 seconds', allowed_lateness = '10 seconds');

CREATE TABLE unicorn_rides ("Rider" TEXT, "Ts" TIMESTAMPTZ, "Fare" BIGINT)
  WITH (connector = 'stream', shards = 2, format = 'json', event_time = 'Ts', watermark_delay = '5 seconds');

CREATE TABLE unicorn_minutes () WITH (connector = 'kv', primary_key = 'name, window_start');
INSERT INTO unicorn_minutes
SELECT "Name" AS name, window_start, window_end, sum("Distance") AS distance,
       min("MagicPoints") AS min_magic, max("MagicPoints") AS max_magic, count(*) AS readings
FROM TUMBLE(unicorn_telemetry, "StatusTime", INTERVAL '1 minute')
GROUP BY "Name", window_start, window_end;

CREATE TABLE telemetry_archive () WITH (connector = 'files', path = 'archive/unicorns', format = 'jsonl',
  compression = 'gzip', partition = 'hour', buffer_size = '256 KB', buffer_interval = '2 seconds');
INSERT INTO telemetry_archive SELECT * FROM unicorn_telemetry;

CREATE TABLE unicorn_hops () WITH (connector = 'kv', primary_key = 'name, window_start');
INSERT INTO unicorn_hops
SELECT "Name" AS name, window_start, window_end, count(*) AS readings, sum("Distance") AS distance
FROM HOP(unicorn_telemetry, "StatusTime", INTERVAL '20 seconds', INTERVAL '1 minute')
GROUP BY "Name", window_start, window_end;

CREATE TABLE rider_sessions () WITH (connector = 'kv', primary_key = 'rider, window_start');
INSERT INTO rider_sessions
SELECT "Rider" AS rider, window_start, window_end, count(*) AS rides, sum("Fare") AS fares
FROM SESSION(unicorn_rides, "Ts", INTERVAL '30 seconds')
GROUP BY "Rider", window_start, window_end;
