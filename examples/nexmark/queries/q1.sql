-- Nexmark q1: currency conversion, dollars to euros.
-- The generator's flat events (examples/nexmark/generator.h), like the nexmark project's
-- datagen table: every field of person, auction and bid as a nullable column, and event_type
-- (0 person, 1 auction, 2 bid) to select one kind. Watermark = dateTime - 4 s, as in Nexmark.
CREATE TABLE nexmark (
  event_type BIGINT,
  id BIGINT, name TEXT, "emailAddress" TEXT, "creditCard" TEXT, city TEXT, state TEXT,
  "itemName" TEXT, description TEXT, "initialBid" BIGINT, reserve BIGINT, expires TIMESTAMPTZ,
  seller BIGINT, category BIGINT,
  auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT,
  "dateTime" TIMESTAMPTZ, extra TEXT
) WITH (connector = 'stream', shards = 4, format = 'json', event_time = 'dateTime',
        watermark_delay = '4 seconds');

CREATE TABLE q1_out () WITH (connector = 'files', path = 'nexmark/q1_out', format = 'jsonl', compression = 'none');

INSERT INTO q1_out
SELECT auction, bidder, 0.908 * price AS price, "dateTime", extra
FROM nexmark
WHERE event_type = 2;
