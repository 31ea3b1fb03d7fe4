-- Nexmark q5: hot items. Bids per auction in HOP windows (2 s slide, 10 s size); keep, per
-- window, the auctions whose count equals the window's largest count. Both subqueries are the
-- same HOP aggregate, planned once and shared.
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

CREATE TABLE q5_out () WITH (connector = 'files', path = 'nexmark/q5_out', format = 'jsonl', compression = 'none');

INSERT INTO q5_out
SELECT AuctionBids.auction, AuctionBids.num, AuctionBids.starttime
FROM (
  SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
  FROM HOP(nexmark, "dateTime", INTERVAL '2' SECOND, INTERVAL '10' SECOND)
  WHERE event_type = 2
  GROUP BY auction, window_start, window_end
) AS AuctionBids
JOIN (
  SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
  FROM (
    SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
    FROM HOP(nexmark, "dateTime", INTERVAL '2' SECOND, INTERVAL '10' SECOND)
    WHERE event_type = 2
    GROUP BY auction, window_start, window_end
  ) AS CountBids
  GROUP BY CountBids.starttime, CountBids.endtime
) AS MaxBids
ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
   AND AuctionBids.num >= MaxBids.maxn;
