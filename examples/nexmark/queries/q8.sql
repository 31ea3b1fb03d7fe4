-- Nexmark q8: monitor new users. People who created an auction in the same 10 s tumbling
-- window in which they registered.
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

CREATE TABLE q8_out () WITH (connector = 'files', path = 'nexmark/q8_out', format = 'jsonl', compression = 'none');

INSERT INTO q8_out
SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name, window_start AS starttime, window_end AS endtime
  FROM TUMBLE(nexmark, "dateTime", INTERVAL '10' SECOND)
  WHERE event_type = 0
  GROUP BY id, name, window_start, window_end
) AS P
JOIN (
  SELECT seller, window_start AS starttime, window_end AS endtime
  FROM TUMBLE(nexmark, "dateTime", INTERVAL '10' SECOND)
  WHERE event_type = 1
  GROUP BY seller, window_start, window_end
) AS A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
