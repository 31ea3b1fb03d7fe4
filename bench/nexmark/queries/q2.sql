-- Nexmark q2: selection, MOD(auction, 123) = 0 (benchmark harness copy).
-- The Nexmark bid stream: the generator's bids as flat JSON (examples/nexmark/generator.h),
-- with the suite's 4 s watermark.
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT,
  "dateTime" TIMESTAMPTZ, extra TEXT
) WITH (connector = 'stream', shards = 4, format = 'json',
        event_time = 'dateTime', watermark_delay = '4 seconds');

CREATE TABLE q2_out () WITH (connector = 'files', path = 'archive/q2', format = 'jsonl',
  compression = 'none', partition = 'none');

INSERT INTO q2_out SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
