-- Wild Rydes: the AWS real-time workshop's pipeline, in one Sluice file.
-- Unicorns report their status every second (fields as the workshop's producer sends them);
-- one query keeps per-unicorn, per-minute statistics in a queryable table (the workshop's
-- Kinesis Data Analytics → Lambda → DynamoDB leg), another archives every raw event as
-- hour-partitioned gzip JSON lines (the Firehose → S3 leg), and a third sums up the whole fleet
-- each minute as Prometheus gauges, for the Grafana fleet dashboard
-- (examples/grafana/wildrydes.json).
-- The producer sends each status with the unicorn's Name as its partition key, as the
-- workshop's does; partition_key says so, and the per-unicorn query then keeps each shard's
-- unicorns on the worker that reads the shard (no exchange between workers).

CREATE TABLE unicorn_telemetry (
  "Name" TEXT,
  "StatusTime" TIMESTAMPTZ,
  "Latitude" FLOAT8,
  "Longitude" FLOAT8,
  "Distance" FLOAT8,
  "MagicPoints" INT,
  "HealthPoints" INT
) WITH (connector = 'stream', shards = 4, format = 'json',
        event_time = 'StatusTime', watermark_delay = '5 seconds', idle_timeout = '10 seconds',
        partition_key = 'Name');

CREATE TABLE unicorn_minutes () WITH (connector = 'kv', primary_key = 'name, window_start');

INSERT INTO unicorn_minutes
SELECT "Name" AS name, window_start, window_end,
       sum("Distance") AS distance,
       min("MagicPoints") AS min_magic, max("MagicPoints") AS max_magic,
       min("HealthPoints") AS min_health, max("HealthPoints") AS max_health,
       avg("HealthPoints") AS avg_health,
       count(*) AS readings
FROM TUMBLE(unicorn_telemetry, "StatusTime", INTERVAL '1 minute')
GROUP BY "Name", window_start, window_end;

CREATE TABLE telemetry_archive () WITH (connector = 'files', path = 'archive/unicorns',
  format = 'jsonl', compression = 'gzip', partition = 'hour',
  buffer_size = '5 MB', buffer_interval = '60 seconds');

INSERT INTO telemetry_archive SELECT * FROM unicorn_telemetry;

-- The fleet per minute, as gauges sluice_sink_value{sink="fleet_minutes",column=...}: one row per
-- window (grouped by the window only), so the series do not depend on how many unicorns there are.
CREATE TABLE fleet_minutes () WITH (connector = 'metrics');

INSERT INTO fleet_minutes
SELECT window_start, window_end,
       sum("Distance") AS distance,
       count(DISTINCT "Name") AS unicorns,
       count(DISTINCT "Name") FILTER (WHERE "HealthPoints" < 50) AS low_health_unicorns,
       count(DISTINCT "Name") FILTER (WHERE "MagicPoints" < 50) AS low_magic_unicorns
FROM TUMBLE(unicorn_telemetry, "StatusTime", INTERVAL '1 minute')
GROUP BY window_start, window_end;
