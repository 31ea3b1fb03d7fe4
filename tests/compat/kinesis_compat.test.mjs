// Compatibility test: AWS's own JavaScript SDK v3 (@aws-sdk/client-kinesis, version pinned in
// package-lock.json) against `sluice run`, once with the client's default request handler
// (NodeHttp2Handler: HTTP/2 with prior knowledge on an http:// endpoint) and once with
// NodeHttpHandler (HTTP/1.1). Each run checks, through Sluice's /metrics, that the server really
// saw the HTTP version it was meant to.
//
// Run by tests/compat/run.sh (CTest: kinesis_compat_test) with SLUICE_BINARY set.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  CreateStreamCommand,
  DecreaseStreamRetentionPeriodCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  IncreaseStreamRetentionPeriodCommand,
  KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  MergeShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  paginateListStreams,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';

const BINARY = process.env.SLUICE_BINARY;
const TIMEOUT = { timeout: 120_000 };

// ---------------------------------------------------------------------------------------------
// The server: `sluice run` on 127.0.0.1, port 0, a temporary data dir and a one-stream pipeline.

const server = { proc: null, url: '', dir: '', output: '' };

async function startServer() {
  assert.ok(BINARY, 'SLUICE_BINARY must name the sluice binary');
  server.dir = mkdtempSync(path.join(tmpdir(), 'sluice-compat-'));
  const pipeline = path.join(server.dir, 'pipeline.sql');
  // `sluice run` needs a pipeline; one source stream and no query is enough.
  writeFileSync(pipeline, "CREATE TABLE seed (x TEXT) WITH (connector = 'stream', shards = 1);\n");
  const proc = spawn(BINARY, ['run', pipeline, '--data-dir', path.join(server.dir, 'data'), '--listen', '127.0.0.1:0'],
                     { stdio: ['ignore', 'pipe', 'pipe'] });
  server.proc = proc;
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { server.output += d; });
  server.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
    proc.on('error', () => resolve({ code: null, signal: 'spawn failed' }));
  });
  server.url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice did not print its port in 60 s:\n${server.output}`)), 60_000);
    proc.stdout.on('data', (d) => {
      server.output += d;
      const m = /sluice: serving .* on (http:\/\/127\.0\.0\.1:(\d+))/.exec(server.output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice exited (${code}) before serving:\n${server.output}`));
    });
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BINARY}: ${err.message}`));
    });
  });
}

async function stopServer() {
  if (!server.proc || server.proc.exitCode !== null || !server.proc.pid) return;
  server.proc.kill('SIGTERM');
  const { code, signal } = await server.exited;
  server.proc = null;
  rmSync(server.dir, { recursive: true, force: true });
  // A clean shutdown exits 0; a sanitizer report at exit makes it non-zero.
  assert.equal(code, 0, `sluice exited with ${code ?? signal} after SIGTERM:\n${server.output.slice(-20000)}`);
}

process.on('exit', () => { if (server.proc) server.proc.kill('SIGKILL'); });

// Sum of sluice_kinesis_requests_total per http_version label.
async function requestsByHttpVersion() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out = { '1.1': 0, '2': 0 };
  for (const line of text.split('\n')) {
    const m = /^sluice_kinesis_requests_total\{[^}]*http_version="([^"]+)"[^}]*\} (\d+)/.exec(line);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

// CRC32C (Castagnoli, reflected 0x82F63B78), to re-seal an iterator we edit on purpose.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function crc32c(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// The same iterator, issued `ageMs` earlier, with a valid CRC (layout: kinesis_token_format.h).
function ageIterator(iterator, ageMs) {
  const raw = Buffer.from(iterator, 'base64');
  const n = raw.readUInt16LE(2);
  raw.writeBigInt64LE(raw.readBigInt64LE(24 + n) - BigInt(ageMs), 24 + n);
  raw.writeUInt32LE(crc32c(raw.subarray(0, 32 + n)), 32 + n);
  return raw.toString('base64');
}

async function expectError(promise, name, status = 400) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
    assert.equal(err.$metadata?.httpStatusCode, status);
    assert.equal(typeof err.message, 'string');
    return true;
  });
}

async function readShard(client, stream, shardId, iteratorType = 'TRIM_HORIZON', extra = {}, limit = 100) {
  let { ShardIterator: it } = await client.send(new GetShardIteratorCommand({
    StreamName: stream, ShardId: shardId, ShardIteratorType: iteratorType, ...extra }));
  const records = [];
  for (let guard = 0; guard < 1000; guard++) {
    const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: limit }));
    assert.equal(typeof r.MillisBehindLatest, 'number');
    records.push(...r.Records);
    it = r.NextShardIterator;
    assert.ok(it, 'an open shard always returns a NextShardIterator');
    if (r.Records.length === 0) break;
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// The suite, run once per request handler.

function suite(label, makeHandler, expectedVersion) {
  describe(`Kinesis API through @aws-sdk/client-kinesis over ${label}`, () => {
    const stream = `compat-${expectedVersion === '2' ? 'h2' : 'h1'}`;
    const onDemand = `${stream}-od`;
    let client;
    let before_counts;
    const expected = new Map();  // ShardId -> [{seq, key, data}] in put order.
    let shards = [];

    before(async () => {
      const handler = makeHandler();
      client = new KinesisClient({
        endpoint: server.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
        maxAttempts: 1,
        ...(handler ? { requestHandler: handler } : {}),
      });
      before_counts = await requestsByHttpVersion();
    });

    after(() => client?.destroy());

    test('CreateStream; ACTIVE per DescribeStreamSummary and the StreamExists waiter', TIMEOUT, async () => {
      await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 3 }));
      let summary;
      for (let i = 0; i < 100; i++) {
        ({ StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream })));
        if (summary.StreamStatus === 'ACTIVE') break;
        await sleep(100);
      }
      assert.equal(summary.StreamStatus, 'ACTIVE');
      assert.equal(summary.StreamName, stream);
      assert.equal(summary.StreamARN, `arn:aws:kinesis:us-east-1:000000000000:stream/${stream}`);
      assert.equal(summary.OpenShardCount, 3);
      assert.equal(summary.RetentionPeriodHours, 24);
      assert.equal(summary.StreamModeDetails.StreamMode, 'PROVISIONED');
      assert.ok(summary.StreamCreationTimestamp instanceof Date);
      assert.ok(Math.abs(summary.StreamCreationTimestamp.getTime() - Date.now()) < 60_000);

      await client.send(new CreateStreamCommand({ StreamName: onDemand, StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
      const waited = await waitUntilStreamExists({ client, maxWaitTime: 30, minDelay: 1 }, { StreamName: onDemand });
      assert.equal(waited.state, 'SUCCESS');
      const d = await client.send(new DescribeStreamCommand({ StreamName: onDemand }));
      assert.equal(d.StreamDescription.StreamModeDetails.StreamMode, 'ON_DEMAND');
      assert.equal(d.StreamDescription.Shards.length, 4);
      assert.equal(d.StreamDescription.HasMoreShards, false);
      await expectError(client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 })), 'ResourceInUseException');
    });

    test('ListStreams, with pagination', TIMEOUT, async () => {
      const all = await client.send(new ListStreamsCommand({}));
      assert.ok(all.StreamNames.includes(stream));
      assert.ok(all.StreamNames.includes(onDemand));
      assert.equal(all.HasMoreStreams, false);
      const summary = all.StreamSummaries.find((s) => s.StreamName === stream);
      assert.equal(summary.StreamStatus, 'ACTIVE');
      assert.ok(summary.StreamCreationTimestamp instanceof Date);
      const paged = [];
      for await (const page of paginateListStreams({ client, pageSize: 1 }, {})) {
        assert.ok(page.StreamNames.length <= 1);
        paged.push(...page.StreamNames);
      }
      assert.deepEqual(paged, all.StreamNames);
      const first = await client.send(new ListStreamsCommand({ Limit: 1 }));
      assert.equal(first.HasMoreStreams, true);
      const rest = await client.send(new ListStreamsCommand({ ExclusiveStartStreamName: first.StreamNames[0] }));
      assert.deepEqual([...first.StreamNames, ...rest.StreamNames], all.StreamNames);
    });

    test('ListShards with MaxResults=1 pagination', TIMEOUT, async () => {
      let page = await client.send(new ListShardsCommand({ StreamName: stream, MaxResults: 1 }));
      for (;;) {
        assert.equal(page.Shards.length, 1);
        shards.push(page.Shards[0]);
        if (!page.NextToken) break;
        page = await client.send(new ListShardsCommand({ NextToken: page.NextToken, MaxResults: 1 }));
      }
      assert.deepEqual(shards.map((s) => s.ShardId), ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
      assert.equal(shards[0].HashKeyRange.StartingHashKey, '0');
      assert.equal(shards[2].HashKeyRange.EndingHashKey, (2n ** 128n - 1n).toString());
      for (let i = 1; i < 3; i++)
        assert.equal(BigInt(shards[i].HashKeyRange.StartingHashKey), BigInt(shards[i - 1].HashKeyRange.EndingHashKey) + 1n);
      assert.equal(typeof shards[1].SequenceNumberRange.StartingSequenceNumber, 'string');
      const after = await client.send(new ListShardsCommand({ StreamName: stream, ExclusiveStartShardId: 'shardId-000000000000' }));
      assert.deepEqual(after.Shards.map((s) => s.ShardId), ['shardId-000000000001', 'shardId-000000000002']);
      const token = (await client.send(new ListShardsCommand({ StreamName: stream, MaxResults: 1 }))).NextToken;
      await expectError(client.send(new ListShardsCommand({ StreamName: stream, NextToken: token })), 'InvalidArgumentException');
      for (const s of shards) expected.set(s.ShardId, []);
    });

    test('PutRecord: ExplicitHashKey picks the shard; SequenceNumberForOrdering is accepted', TIMEOUT, async () => {
      let previous;
      for (let i = 0; i < 3; i++) {
        const data = Buffer.from(`explicit ${i} \u00e9\u0000\u00ff`, 'utf8');
        const r = await client.send(new PutRecordCommand({
          StreamName: stream, PartitionKey: `explicit-${i}`, Data: data,
          ExplicitHashKey: shards[2].HashKeyRange.StartingHashKey,
          ...(previous ? { SequenceNumberForOrdering: previous } : {}),
        }));
        assert.equal(r.ShardId, 'shardId-000000000002');
        assert.match(r.SequenceNumber, /^\d+$/);
        if (previous) assert.ok(BigInt(r.SequenceNumber) > BigInt(previous));
        previous = r.SequenceNumber;
        expected.get(r.ShardId).push({ seq: r.SequenceNumber, key: `explicit-${i}`, data });
      }
    });

    test('PutRecords: 500 records', TIMEOUT, async () => {
      const records = [];
      for (let i = 0; i < 500; i++) {
        records.push({ PartitionKey: `pk-${i % 37}-${i}`, Data: randomBytes(i % 3 === 0 ? 0 : (i * 7) % 300) });
      }
      const r = await client.send(new PutRecordsCommand({ StreamName: stream, Records: records }));
      assert.equal(r.FailedRecordCount, 0);
      assert.equal(r.Records.length, 500);
      r.Records.forEach((rec, i) => {
        assert.match(rec.SequenceNumber, /^\d+$/);
        expected.get(rec.ShardId).push({ seq: rec.SequenceNumber, key: records[i].PartitionKey, data: Buffer.from(records[i].Data) });
      });
      for (const [shard, list] of expected) assert.ok(list.length > 50, `${shard} got ${list.length} records`);
    });

    test('GetShardIterator TRIM_HORIZON + GetRecords read back exactly what was put', TIMEOUT, async () => {
      const start = Date.now();
      for (const [shard, want] of expected) {
        const got = await readShard(client, stream, shard, 'TRIM_HORIZON', {}, 77);
        assert.equal(got.length, want.length, shard);
        got.forEach((rec, i) => {
          assert.equal(rec.SequenceNumber, want[i].seq);
          assert.equal(rec.PartitionKey, want[i].key);
          assert.ok(rec.Data instanceof Uint8Array);
          assert.ok(Buffer.from(rec.Data).equals(want[i].data), `${shard} record ${i} data differs`);
          assert.ok(rec.ApproximateArrivalTimestamp instanceof Date);
          assert.ok(rec.ApproximateArrivalTimestamp.getTime() <= start + 1000);
          assert.ok(rec.ApproximateArrivalTimestamp.getTime() > start - 120_000);
          assert.ok(rec.EncryptionType === undefined || rec.EncryptionType === 'NONE');
          if (i > 0) assert.ok(BigInt(rec.SequenceNumber) > BigInt(got[i - 1].SequenceNumber));
          if (i > 0) assert.ok(rec.ApproximateArrivalTimestamp >= got[i - 1].ApproximateArrivalTimestamp);
        });
      }
    });

    test('GetShardIterator AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER', TIMEOUT, async () => {
      const want = expected.get('shardId-000000000001');
      const mid = want[Math.floor(want.length / 2)];
      const at = await readShard(client, stream, 'shardId-000000000001', 'AT_SEQUENCE_NUMBER', { StartingSequenceNumber: mid.seq });
      assert.equal(at[0].SequenceNumber, mid.seq);
      assert.equal(at.length, want.length - Math.floor(want.length / 2));
      const after = await readShard(client, stream, 'shardId-000000000001', 'AFTER_SEQUENCE_NUMBER', { StartingSequenceNumber: mid.seq });
      assert.equal(after[0].SequenceNumber, want[Math.floor(want.length / 2) + 1].seq);
      await expectError(client.send(new GetShardIteratorCommand({
        StreamName: stream, ShardId: 'shardId-000000000001', ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: '99999999999999999999999999999' })), 'InvalidArgumentException');
      await expectError(client.send(new GetShardIteratorCommand({
        StreamName: stream, ShardId: 'shardId-000000000001', ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: 'twelve' })), 'InvalidArgumentException');
    });

    test('GetShardIterator LATEST and AT_TIMESTAMP', TIMEOUT, async () => {
      const shard = 'shardId-000000000000';
      const { ShardIterator: latest } = await client.send(new GetShardIteratorCommand({
        StreamName: stream, ShardId: shard, ShardIteratorType: 'LATEST' }));
      const empty = await client.send(new GetRecordsCommand({ ShardIterator: latest }));
      assert.equal(empty.Records.length, 0);
      assert.equal(empty.MillisBehindLatest, 0);
      await sleep(50);
      const mark = new Date();
      await sleep(50);
      const put = await client.send(new PutRecordCommand({
        StreamName: stream, PartitionKey: 'after-mark', Data: Buffer.from('after the mark'),
        ExplicitHashKey: '0' }));
      assert.equal(put.ShardId, shard);
      expected.get(shard).push({ seq: put.SequenceNumber, key: 'after-mark', data: Buffer.from('after the mark') });
      const next = await client.send(new GetRecordsCommand({ ShardIterator: empty.NextShardIterator }));
      assert.equal(next.Records.length, 1);
      assert.equal(next.Records[0].SequenceNumber, put.SequenceNumber);
      const byTime = await readShard(client, stream, shard, 'AT_TIMESTAMP', { Timestamp: mark });
      assert.equal(byTime.length, 1);
      assert.equal(byTime[0].SequenceNumber, put.SequenceNumber);
      assert.equal(Buffer.from(byTime[0].Data).toString(), 'after the mark');
      const fromStart = await readShard(client, stream, shard, 'AT_TIMESTAMP', { Timestamp: new Date(Date.now() - 3_600_000) });
      assert.equal(fromStart.length, expected.get(shard).length);
    });

    test('retention: increase, decrease, and the rules', TIMEOUT, async () => {
      await client.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 48 }));
      let s = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      assert.equal(s.StreamDescriptionSummary.RetentionPeriodHours, 48);
      await expectError(client.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 30 })),
                        'InvalidArgumentException');
      await expectError(client.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 72 })),
                        'InvalidArgumentException');
      await expectError(client.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 9000 })),
                        'InvalidArgumentException');
      await client.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: stream, RetentionPeriodHours: 24 }));
      s = await client.send(new DescribeStreamCommand({ StreamName: stream }));
      assert.equal(s.StreamDescription.RetentionPeriodHours, 24);
    });

    test('errors surface with AWS names', TIMEOUT, async () => {
      await expectError(client.send(new DescribeStreamSummaryCommand({ StreamName: 'no-such-stream' })), 'ResourceNotFoundException');
      await expectError(client.send(new PutRecordCommand({ StreamName: 'no-such-stream', PartitionKey: 'k', Data: Buffer.from('x') })),
                        'ResourceNotFoundException');
      await expectError(client.send(new GetShardIteratorCommand({
        StreamName: stream, ShardId: 'shardId-000000000009', ShardIteratorType: 'LATEST' })), 'ResourceNotFoundException');
      const { ShardIterator: it } = await client.send(new GetShardIteratorCommand({
        StreamName: stream, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
      // Tampered: one byte of the payload changed, CRC left alone.
      const raw = Buffer.from(it, 'base64');
      raw[6] ^= 0x01;
      await expectError(client.send(new GetRecordsCommand({ ShardIterator: raw.toString('base64') })), 'InvalidArgumentException');
      await expectError(client.send(new GetRecordsCommand({ ShardIterator: 'bm90IGFuIGl0ZXJhdG9y' })), 'InvalidArgumentException');
      // Expired: the same iterator, issued six minutes ago (re-sealed, so only its age is wrong).
      await expectError(client.send(new GetRecordsCommand({ ShardIterator: ageIterator(it, 6 * 60_000) })),
                        'ExpiredIteratorException');
      const ok = await client.send(new GetRecordsCommand({ ShardIterator: ageIterator(it, 60_000), Limit: 1 }));
      assert.equal(ok.Records.length, 1);
      await expectError(client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10001 })), 'ValidationException');
      const tooMany = Array.from({ length: 501 }, (_, i) => ({ PartitionKey: `k${i}`, Data: Buffer.from('x') }));
      await expectError(client.send(new PutRecordsCommand({ StreamName: stream, Records: tooMany })), 'ValidationException');
    });

    test('resharding: SplitShard, MergeShards, UpdateShardCount; parents before children keep key order', TIMEOUT, async () => {
      const rs = `${stream}-reshard`;
      await client.send(new CreateStreamCommand({ StreamName: rs, ShardCount: 2 }));
      const want = new Map();  // PartitionKey -> data strings in put order
      let n = 0;
      const putRound = async () => {
        const records = [];
        for (let k = 0; k < 24; k++) {
          const key = `user-${k}`;
          const data = `${key}#${n++}`;
          records.push({ PartitionKey: key, Data: Buffer.from(data) });
          if (!want.has(key)) want.set(key, []);
          want.get(key).push(data);
        }
        const r = await client.send(new PutRecordsCommand({ StreamName: rs, Records: records }));
        assert.equal(r.FailedRecordCount, 0);
        return r.Records;
      };
      const listAll = async () => (await client.send(new ListShardsCommand({ StreamName: rs }))).Shards;
      await putRound();
      let shards = await listAll();
      assert.equal(shards.length, 2);
      const mid = (BigInt(shards[0].HashKeyRange.EndingHashKey) / 2n).toString();

      // SplitShard, and its errors.
      await expectError(client.send(new SplitShardCommand({ StreamName: rs, ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: shards[0].HashKeyRange.StartingHashKey })), 'InvalidArgumentException');
      await expectError(client.send(new SplitShardCommand({ StreamName: rs, ShardToSplit: 'shardId-000000000042',
        NewStartingHashKey: mid })), 'ResourceNotFoundException');
      await expectError(client.send(new SplitShardCommand({ StreamName: `${rs}-nope`, ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: mid })), 'ResourceNotFoundException');
      await expectError(client.send(new SplitShardCommand({ StreamName: rs, ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: 'not-a-number' })), 'ValidationException');
      await client.send(new SplitShardCommand({ StreamName: rs, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: mid }));
      await expectError(client.send(new SplitShardCommand({ StreamName: rs, ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: mid })), 'ResourceInUseException');
      shards = await listAll();
      assert.deepEqual(shards.map((s) => s.ShardId),
                       ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002', 'shardId-000000000003']);
      assert.equal(typeof shards[0].SequenceNumberRange.EndingSequenceNumber, 'string');
      assert.equal(shards[1].SequenceNumberRange.EndingSequenceNumber, undefined);
      assert.equal(shards[2].ParentShardId, 'shardId-000000000000');
      assert.equal(shards[3].ParentShardId, 'shardId-000000000000');
      assert.equal(shards[3].HashKeyRange.StartingHashKey, mid);
      for (const r of await putRound()) assert.notEqual(r.ShardId, 'shardId-000000000000');

      // MergeShards, and its errors.
      await expectError(client.send(new MergeShardsCommand({ StreamName: rs, ShardToMerge: 'shardId-000000000002',
        AdjacentShardToMerge: 'shardId-000000000001' })), 'InvalidArgumentException');
      await expectError(client.send(new MergeShardsCommand({ StreamName: rs, ShardToMerge: 'shardId-000000000000',
        AdjacentShardToMerge: 'shardId-000000000002' })), 'ResourceInUseException');
      await client.send(new MergeShardsCommand({ StreamName: rs, ShardToMerge: 'shardId-000000000003',
        AdjacentShardToMerge: 'shardId-000000000001' }));
      shards = await listAll();
      assert.equal(shards.length, 5);
      assert.equal(shards[4].ParentShardId, 'shardId-000000000003');
      assert.equal(shards[4].AdjacentParentShardId, 'shardId-000000000001');
      await putRound();

      // UpdateShardCount, and its errors.
      await expectError(client.send(new UpdateShardCountCommand({ StreamName: rs, TargetShardCount: 5,
        ScalingType: 'UNIFORM_SCALING' })), 'LimitExceededException');
      await expectError(client.send(new UpdateShardCountCommand({ StreamName: rs, TargetShardCount: 0,
        ScalingType: 'UNIFORM_SCALING' })), 'ValidationException');
      const up = await client.send(new UpdateShardCountCommand({ StreamName: rs, TargetShardCount: 3,
        ScalingType: 'UNIFORM_SCALING' }));
      assert.equal(up.CurrentShardCount, 2);
      assert.equal(up.TargetShardCount, 3);
      assert.equal(up.StreamName, rs);
      await putRound();
      const summary = (await client.send(new DescribeStreamSummaryCommand({ StreamName: rs }))).StreamDescriptionSummary;
      assert.equal(summary.OpenShardCount, 3);
      assert.equal(summary.StreamStatus, 'ACTIVE');
      const latest = (await client.send(new ListShardsCommand({ StreamName: rs, ShardFilter: { Type: 'AT_LATEST' } }))).Shards;
      assert.equal(latest.length, 3);
      let prev = -1n;  // Listed in id order; check the ranges tile the hash-key space in key order.
      const byStart = [...latest].sort((a, b) => (BigInt(a.HashKeyRange.StartingHashKey) < BigInt(b.HashKeyRange.StartingHashKey) ? -1 : 1));
      for (const s of byStart) {
        assert.equal(s.SequenceNumberRange.EndingSequenceNumber, undefined);
        assert.equal(BigInt(s.HashKeyRange.StartingHashKey), prev + 1n);
        prev = BigInt(s.HashKeyRange.EndingHashKey);
      }
      assert.equal(prev, 2n ** 128n - 1n);

      // Read every shard like a KCL worker: a shard only after its parents are done; a closed
      // shard until NextShardIterator is null, an open one until it returns nothing.
      shards = await listAll();
      const described = (await client.send(new DescribeStreamCommand({ StreamName: rs }))).StreamDescription.Shards;
      assert.deepEqual(described.map((s) => s.ShardId), shards.map((s) => s.ShardId));
      const done = new Set();
      const got = new Map();
      const seen = new Set();
      for (let pass = 0; pass < 20 && done.size < shards.length; pass++) {
        for (const s of shards) {
          if (done.has(s.ShardId)) continue;
          if ((s.ParentShardId && !done.has(s.ParentShardId)) || (s.AdjacentParentShardId && !done.has(s.AdjacentParentShardId)))
            continue;
          const closed = s.SequenceNumberRange.EndingSequenceNumber !== undefined;
          let { ShardIterator: it } = await client.send(new GetShardIteratorCommand({
            StreamName: rs, ShardId: s.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
          for (let guard = 0; guard < 1000; guard++) {
            const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 7 }));
            for (const rec of r.Records) {
              const data = Buffer.from(rec.Data).toString();
              assert.ok(!seen.has(data), `duplicate record ${data}`);
              seen.add(data);
              if (!got.has(rec.PartitionKey)) got.set(rec.PartitionKey, []);
              got.get(rec.PartitionKey).push(data);
            }
            it = r.NextShardIterator;
            if (!it) {
              assert.ok(closed, `${s.ShardId} is open but returned no NextShardIterator`);
              assert.ok(r.ChildShards.length > 0);
              break;
            }
            if (!closed && r.Records.length === 0) break;
          }
          done.add(s.ShardId);
        }
      }
      assert.equal(done.size, shards.length);
      assert.equal(seen.size, n);
      assert.deepEqual(got, want);
      await client.send(new DeleteStreamCommand({ StreamName: rs }));
    });

    test('DeleteStream, then ResourceNotFoundException', TIMEOUT, async () => {
      const { ShardIterator: it } = await client.send(new GetShardIteratorCommand({
        StreamName: onDemand, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
      await client.send(new DeleteStreamCommand({ StreamName: onDemand }));
      await client.send(new DeleteStreamCommand({ StreamName: stream, EnforceConsumerDeletion: true }));
      await expectError(client.send(new DescribeStreamSummaryCommand({ StreamName: stream })), 'ResourceNotFoundException');
      await expectError(client.send(new DescribeStreamCommand({ StreamName: onDemand })), 'ResourceNotFoundException');
      await expectError(client.send(new DeleteStreamCommand({ StreamName: stream })), 'ResourceNotFoundException');
      await expectError(client.send(new GetRecordsCommand({ ShardIterator: it })), 'ResourceNotFoundException');
      const names = (await client.send(new ListStreamsCommand({}))).StreamNames;
      assert.ok(!names.includes(stream) && !names.includes(onDemand));
      assert.ok(names.includes('seed'));  // The pipeline's stream is untouched.
    });

    test(`the server saw HTTP/${expectedVersion} requests only`, TIMEOUT, async () => {
      const now = await requestsByHttpVersion();
      const other = expectedVersion === '2' ? '1.1' : '2';
      assert.ok(now[expectedVersion] - before_counts[expectedVersion] > 20,
                `expected HTTP/${expectedVersion} requests, counts before ${JSON.stringify(before_counts)} after ${JSON.stringify(now)}`);
      assert.equal(now[other] - before_counts[other], 0, `unexpected HTTP/${other} requests`);
      if (expectedVersion === '2') assert.ok(client.config.requestHandler instanceof NodeHttp2Handler);
      else assert.ok(client.config.requestHandler instanceof NodeHttpHandler);
    });
  });
}

before(startServer);
after(stopServer);

// The client's default handler: @aws-sdk/client-kinesis ships NodeHttp2Handler as its default
// (for SubscribeToShard), which speaks h2c with prior knowledge to an http:// endpoint.
suite('the default request handler (HTTP/2)', () => undefined, '2');
suite('NodeHttpHandler (HTTP/1.1)', () => new NodeHttpHandler({ connectionTimeout: 10_000, requestTimeout: 60_000 }), '1.1');
