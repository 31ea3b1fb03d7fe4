-- Nexmark q0: pass-through of bid (benchmark harness copy; examples/nexmark/queries/q0.sql wins
-- when it exists).
-- The Nexmark bid stream: the generator's bids as flat JSON (examples/nexmark/generator.h),
-- with the suite's 4 s watermark.
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT,
  "dateTime" TIMESTAMPTZ, extra TEXT
) WITH (connector = 'stream', shards = 4, format = 'json',
        event_time = 'dateTime', watermark_delay = '4 seconds');

CREATE TABLE q0_out () WITH (connector = 'files', path = 'archive/q0', format = 'jsonl',
  compression = 'none', partition = 'none');

INSERT INTO q0_out SELECT auction, bidder, price, "dateTime", extra FROM bid;
