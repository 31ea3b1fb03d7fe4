-- Nexmark q11: user sessions, count(*) per bidder per session with a 10 s gap (benchmark
-- harness copy).
-- The Nexmark bid stream: the generator's bids as flat JSON (examples/nexmark/generator.h),
-- with the suite's 4 s watermark.
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT,
  "dateTime" TIMESTAMPTZ, extra TEXT
) WITH (connector = 'stream', shards = 4, format = 'json',
        event_time = 'dateTime', watermark_delay = '4 seconds');

CREATE TABLE q11_out () WITH (connector = 'kv', primary_key = 'bidder, window_start');

INSERT INTO q11_out
SELECT bidder, count(*) AS bid_count, window_start, window_end
FROM SESSION(bid, "dateTime", INTERVAL '10 seconds')
GROUP BY bidder, window_start, window_end;
