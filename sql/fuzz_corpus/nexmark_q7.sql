-- Nexmark q7: highest bid. The bids of each 10 s tumbling window whose price equals the
-- window's max(price). Flink writes it as a join on dateTime BETWEEN window_end - 10 s AND
-- window_end; here it is a window join, so a bid belongs to [window_start, window_end) (see
-- docs/sql.md, "Subqueries and window joins").
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

CREATE TABLE q7_out () WITH (connector = 'files', path = 'nexmark/q7_out', format = 'jsonl', compression = 'none');

INSERT INTO q7_out
SELECT B.auction, B.price, B.bidder, B."dateTime", B.extra
FROM (
  SELECT auction, price, bidder, "dateTime", extra, window_start, window_end
  FROM TUMBLE(nexmark, "dateTime", INTERVAL '10' SECOND)
  WHERE event_type = 2
) AS B
JOIN (
  SELECT max(price) AS maxprice, window_start, window_end
  FROM TUMBLE(nexmark, "dateTime", INTERVAL '10' SECOND)
  WHERE event_type = 2
  GROUP BY window_start, window_end
) AS B1
ON B.window_start = B1.window_start AND B.window_end = B1.window_end AND B.price = B1.maxprice;
