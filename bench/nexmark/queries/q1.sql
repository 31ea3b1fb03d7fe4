-- Nexmark q1: currency conversion, 0.908 * price (benchmark harness copy).
-- The Nexmark bid stream: the generator's bids as flat JSON (examples/nexmark/generator.h),
-- with the suite's 4 s watermark.
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT,
  "dateTime" TIMESTAMPTZ, extra TEXT
) WITH (connector = 'stream', shards = 4, format = 'json',
        event_time = 'dateTime', watermark_delay = '4 seconds');

CREATE TABLE q1_out () WITH (connector = 'files', path = 'archive/q1', format = 'jsonl',
  compression = 'none', partition = 'none');

INSERT INTO q1_out SELECT auction, bidder, 0.908 * price AS price, "dateTime", extra FROM bid;
