// Browser test of the status page at / (app/status_page.html), in headless Chromium (Debian's
// chromium) driven by playwright-core:
//   1. live: `sluice run` of examples/wildrydes/pipeline.sql under load from unicorn-producer. The
//      streams, queries, tables and checkpoints sections show what the JSON endpoints say, the
//      numbers move between two reads, both charts draw points, and no console message is an
//      error. Saves the screenshot (WORK_DIR/status-page.png; with SLUICE_UPDATE_SCREENSHOT=1 also
//      docs/images/status-page.png).
//   2. contract: the JSON endpoints replaced by fixed answers that use every field of the
//      contract, with markup in the names: every field is shown, and shown as text.
//   3. failures: endpoints that are missing (404), empty, malformed, failing (500) or unreachable:
//      each section says so, the page keeps refreshing, and nothing throws.
//
// Run by tests/browser/run.sh (CTest: status_page_browser_test) with SLUICE_BINARY,
// UNICORN_PRODUCER, CHROMIUM and SLUICE_SOURCE_DIR set; the working directory is the work dir.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { chromium } from 'playwright-core';

const SLUICE = process.env.SLUICE_BINARY;
const PRODUCER = process.env.UNICORN_PRODUCER;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SOURCE_DIR = process.env.SLUICE_SOURCE_DIR;
const WORK_DIR = process.cwd();
const SCREENSHOT = path.join(WORK_DIR, 'status-page.png');
const DOCS_SCREENSHOT = SOURCE_DIR && path.join(SOURCE_DIR, 'docs', 'images', 'status-page.png');
// With SLUICE_UPDATE_SCREENSHOT=1 the docs' screenshot is taken after this much more load, so that
// the 5-minute charts show more than their first seconds.
const UPDATE_SCREENSHOT = process.env.SLUICE_UPDATE_SCREENSHOT === '1';
const DOCS_SCREENSHOT_WAIT_MS = 75_000;

// ---------------------------------------------------------------------------------------------
// What the test starts, all stopped in after() and, as a last resort, when the process exits.

const children = new Set();
let browser = null;

function killChildren(signal) {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
}
process.on('exit', () => killChildren('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren('SIGKILL');
    process.exit(1);
  });
}

function start(name, binary, args) {
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { name, proc, output: '' };
  children.add(proc);
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { p.output += d; });
  proc.stderr.on('data', (d) => { p.output += d; });
  p.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); });
    proc.on('error', (err) => { children.delete(proc); resolve({ code: null, signal: `spawn failed: ${err.message}` }); });
  });
  return p;
}

// SIGTERM, then SIGKILL after 10 s. Returns how it exited and keeps its output in WORK_DIR.
async function stop(p) {
  if (!p) return null;
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
  const result = await p.exited;
  clearTimeout(timer);
  writeFileSync(path.join(WORK_DIR, `${p.name}.log`), p.output);
  return result;
}

const run = { server: null, producer: null, url: '', dataDir: '' };

async function startServer() {
  run.dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-browser-'));
  run.server = start('sluice', SLUICE, [
    'run', path.join(SOURCE_DIR, 'examples', 'wildrydes', 'pipeline.sql'),
    '--data-dir', path.join(run.dataDir, 'data'), '--listen', '127.0.0.1:0', '--checkpoint-interval', '1s',
  ]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = /sluice: serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.server.output);
    if (m) {
      run.url = m[1];
      return;
    }
    if (run.server.proc.exitCode !== null || run.server.proc.signalCode !== null) {
      throw new Error(`sluice exited before serving:\n${run.server.output}`);
    }
    if (Date.now() > deadline) throw new Error(`sluice did not print its address in 30 s:\n${run.server.output}`);
    await sleep(50);
  }
}

async function getJson(p) {
  const res = await fetch(run.url + p);
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${p} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

// A page that records every console error and uncaught exception.
async function openPage(routes) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = { console: [], page: [] };
  page.on('console', (m) => { if (m.type() === 'error') problems.console.push(`${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => problems.page.push(String(e && e.stack ? e.stack : e)));
  if (routes) await page.route((u) => u.pathname in routes, (route) => routes[new URL(route.request().url()).pathname](route));
  await page.goto(run.url + '/', { waitUntil: 'load' });
  return { page, context, problems };
}

const polls = (page) => page.evaluate(() => Number(document.body.dataset.polls || 0));
async function waitPolls(page, n) {
  const first = await polls(page);
  await page.waitForFunction((target) => Number(document.body.dataset.polls || 0) >= target, first + n, { timeout: 15_000 });
}

// Pixels of the chart's canvas that are a line colour (saturated), not grid or text (grey).
const colouredPixels = (page, id) => page.evaluate((chartId) => {
  const c = document.querySelector(`#${chartId} canvas`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 128 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 80) n++;
  }
  return n;
}, id);

// ---------------------------------------------------------------------------------------------

describe('status page', { timeout: 90_000 + (UPDATE_SCREENSHOT ? DOCS_SCREENSHOT_WAIT_MS : 0) }, () => {
  before(async () => {
    assert.ok(SLUICE && PRODUCER && SOURCE_DIR, 'SLUICE_BINARY, UNICORN_PRODUCER and SLUICE_SOURCE_DIR must be set (run.sh sets them)');
    await startServer();
    // 20 unicorns, 30 simulated seconds per second: 600 records/s, a one-minute window every 2 s.
    run.producer = start('unicorn-producer', PRODUCER, [
      '--endpoint', run.url, '--unicorns', '20', '--speedup', '30', '--late', '0.01', '--seed', '15',
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });

  after(async () => {
    const producer = await stop(run.producer);
    if (browser) await browser.close();
    browser = null;
    const server = await stop(run.server);
    if (run.dataDir) rmSync(run.dataDir, { recursive: true, force: true });
    if (server) {
      assert.equal(server.code, 0, `sluice exited with ${server.code ?? server.signal} after SIGTERM:\n${run.server.output.slice(-5000)}`);
    }
    if (producer) assert.equal(producer.code, 0, `unicorn-producer exited with ${producer.code ?? producer.signal}:\n${run.producer.output.slice(-3000)}`);
  });

  test('shows the live server under load, and the numbers move', async () => {
    const { page, context, problems } = await openPage(null);
    try {
      // Every section filled from the real endpoints, a KV row and a checkpoint written, and
      // enough samples for both charts.
      try {
        await page.waitForFunction(() => {
          const ok = (id) => document.getElementById(id).dataset.state === 'ok';
          const points = (id) => Number(document.querySelector(`#${id} canvas`).dataset.points);
          return ok('streams') && ok('queries') && ok('tables') && ok('checkpoints') &&
                 document.querySelector('#tables [data-rows]') !== null &&
                 points('chart-ingest') >= 3 && points('chart-lag') >= 3;
        }, null, { timeout: 30_000, polling: 250 });
      } catch (e) {
        const states = await page.evaluate(() => [...document.querySelectorAll('main section')]
          .map((s) => `${s.id}=${s.dataset.state}: ${s.querySelector('.msg') ? s.querySelector('.msg').textContent : ''}`));
        throw new Error(`the page did not fill in 30 s: ${states.join('; ')}\nconsole: ${problems.console.join('\n')}`);
      }

      // The sections show what the endpoints say.
      const streams = (await getJson('/streams')).streams;
      const queries = await getJson('/queries');
      const tables = (await getJson('/tables')).tables;
      const checkpoints = (await getJson('/checkpoints')).checkpoints;
      assert.ok(streams.some((s) => s.name === 'unicorn_telemetry'), JSON.stringify(streams));
      for (const s of streams) {
        for (const sh of s.shards) {
          const n = await page.locator(`#streams tr[data-stream="${s.name}"][data-shard="${sh.shard_id}"]`).count();
          assert.equal(n, 1, `no row for ${s.name}/${sh.shard_id}`);
        }
      }
      assert.ok(queries.length >= 1);
      for (const q of queries) assert.equal(await page.locator(`#queries [data-query="${q.name}"]`).count(), 1, `no card for query ${q.name}`);
      // The split holding a watermark back is marked in its query's split table.
      if (queries.some((q) => q.held_back_by)) assert.ok(await page.locator('#queries tr.holding').count() >= 1, 'no split marked as holding the watermark back');
      const minutes = tables.find((t) => t.name === 'unicorn_minutes');
      assert.ok(minutes, JSON.stringify(tables));
      const heads = await page.locator('#tables [data-table="unicorn_minutes"] th').allTextContents();
      for (const col of ['name', 'window_start', 'window_end', 'distance', 'readings']) assert.ok(heads.includes(col), `column ${col} missing: ${heads}`);
      const shownRows = await page.locator('#tables [data-table="unicorn_minutes"] tbody tr').count();
      assert.ok(shownRows >= 1 && shownRows <= 10, `${shownRows} rows shown`);
      const names = await page.locator(`#tables [data-table="unicorn_minutes"] tbody td:nth-child(${heads.indexOf('name') + 1})`).allTextContents();
      assert.ok(names.every((n) => n && n !== 'null'), `names: ${names}`);
      assert.ok(checkpoints.length >= 1 && checkpoints.some((c) => c.ok === true), JSON.stringify(checkpoints.slice(0, 3)));
      assert.ok(await page.locator('#checkpoints tbody tr').count() >= 1);
      assert.match(await page.locator('#checkpoints tbody').textContent(), /ok/);
      const qText = await page.locator('#queries').textContent();
      for (const word of ['watermark', 'watermark lag', 'held back by', 'late records', 'records in']) assert.ok(qText.includes(word), `queries section lacks "${word}"`);

      // The numbers move: two reads 3 s apart.
      const read = () => page.evaluate(() => {
        const total = document.querySelector('#streams tr[data-stream-total="unicorn_telemetry"]');
        const inputs = [...document.querySelectorAll('#queries [data-field="records_in"]')].map((e) => Number(e.dataset.value));
        return {
          ingested: Number(total.dataset.records),
          rate: Number(total.dataset.rate || 0),
          recordsIn: inputs.reduce((a, b) => a + b, 0),
          ingestPoints: Number(document.querySelector('#chart-ingest canvas').dataset.points),
          polls: Number(document.body.dataset.polls),
          updated: document.getElementById('conn').textContent,
        };
      });
      const first = await read();
      await sleep(3000);
      const second = await read();
      assert.ok(second.polls >= first.polls + 1, `the page did not refresh: ${JSON.stringify([first, second])}`);
      assert.ok(second.ingested > first.ingested, `records ingested did not move: ${JSON.stringify([first, second])}`);
      assert.ok(second.recordsIn > first.recordsIn, `records_in did not move: ${JSON.stringify([first, second])}`);
      assert.ok(first.rate > 0 && second.rate > 0, `no ingest rate: ${JSON.stringify([first, second])}`);
      assert.ok(second.ingestPoints > first.ingestPoints, `the ingest chart got no new point: ${JSON.stringify([first, second])}`);
      assert.notEqual(second.updated, first.updated);
      assert.match(second.updated, /^live/);

      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // The charts drew lines, not only axes and grid (which are grey).
      const colours = { ingest: await colouredPixels(page, 'chart-ingest'), lag: await colouredPixels(page, 'chart-lag') };
      assert.ok(colours.ingest > 20 && colours.lag > 20, `a chart drew no line: coloured pixels ${JSON.stringify(colours)}`);

      if (UPDATE_SCREENSHOT) {
        await sleep(DOCS_SCREENSHOT_WAIT_MS);
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        mkdirSync(path.dirname(DOCS_SCREENSHOT), { recursive: true });
        copyFileSync(SCREENSHOT, DOCS_SCREENSHOT);
      }
      assert.deepEqual(problems.page, [], 'uncaught exceptions in the page');
      assert.deepEqual(problems.console, [], 'console errors');
    } finally {
      await context.close();
    }
  });

  test('shows every field of the contract, as text', async () => {
    const evil = '<img src=x onerror="window.__pwned=1">';
    let calls = 0;
    const json = (body) => (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(typeof body === 'function' ? body() : body) });
    const routes = {
      '/streams': json(() => {
        calls++;
        return { streams: [{ name: evil, shards: [
          { shard_id: 'shardId-000000000000', records_ingested: 1000 * calls, bytes_ingested: 250000 * calls, size_bytes: 5 << 20 },
          { shard_id: 'shardId-000000000001', records_ingested: 7, bytes_ingested: 900, size_bytes: 4096 },
        ] }] };
      }),
      '/queries': json(() => [{
        name: 'per_minute', source: evil, sink: 'unicorn_minutes', state: 'running', worker: 0, workers: 2,
        key_groups: 128, exchange: 'none', idle_timeout: 10, watermark: '2025-01-01T06:00:55.000Z',
        watermark_lag_seconds: 12.5, held_back_by: 'unicorn_telemetry/shardId-000000000001', open_windows: 3,
        state_groups: 40, spilled_groups: 2, state_evictions: 0, state_reads: 0, records_in: 500 * calls,
        bad_records: 4, late_records: 6, rows_emitted: 0, rows_exchanged: 0,
        pending_reason: '<b>no split</b> has passed window_end yet',
        late_by_disposition: { dropped: 3, late_output: 2, updated: 1 },
        shards: [
          { shard: 'unicorn_telemetry/shardId-000000000000', max_event_time: '2025-01-01T06:01:30.000Z', idle: false, next_sequence_number: '49000000000000000001' },
          { shard: 'unicorn_telemetry/shardId-000000000001', max_event_time: '2025-01-01T06:01:00.000Z', idle: false, next_sequence_number: '49000000000000000002' },
        ],
        last_error: '<script>window.__pwned=2</script>',
      }]),
      '/tables': json({ tables: [
        { name: 'unicorn_minutes', primary_key: ['name', 'window_start'], rows_written: 2,
          latest: [{ window_start: '2025-01-01T06:00:00Z', name: evil, distance: 12.345678, readings: 60, note: null, extra: { a: 1 } }] },
        { name: 'empty_table', primary_key: ['k'], rows_written: 0, latest: [] },
      ] }),
      '/checkpoints': json({ checkpoints: [
        { query: 'per_minute', at: new Date().toISOString(), duration_seconds: 0.042, bytes: 123456, ok: true, error: null },
        { query: 'per_minute', at: new Date(Date.now() - 60000).toISOString(), duration_seconds: 1.5, bytes: 0, ok: false, error: `disk full ${evil}` },
      ] }),
    };
    const { page, context, problems } = await openPage(routes);
    try {
      await waitPolls(page, 3);
      const text = await page.locator('main').textContent();
      for (const s of [
        evil, '<b>no split</b> has passed window_end yet', '<script>window.__pwned=2</script>', 'dropped 3, late output 2, updated 1',
        'unicorn_telemetry/shardId-000000000001', '2025-01-01 06:00:55.000Z', '12.5 s', 'per_minute', 'unicorn_minutes', 'empty_table',
        'No rows written yet.', '12.346', `disk full ${evil}`, '2 shown, 1 failed.', '121 KiB', '5.0 MiB',
      ]) assert.ok(text.includes(s), `the page does not show ${JSON.stringify(s)}`);
      // The markup stayed text.
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.equal(await page.locator('main img, main script, #queries b').count(), 0);
      // The split holding the watermark back is marked; the pending reason is shown.
      assert.equal(await page.locator('#queries tr.holding').count(), 1);
      assert.match(await page.locator('#queries tr.holding').textContent(), /shardId-000000000001/);
      assert.match(await page.locator('#queries [data-field="pending_reason"]').textContent(), /^No window has fired yet: /);
      // Rates from the differences between polls: shard 0 grows 1000 records a poll, shard 1 not.
      const rates = await page.locator('#streams tr[data-shard] td.rate').allTextContents();
      assert.ok(Number(rates[0].replace(/,/g, '')) > 0 && rates[1] === '0.0', `rates: ${rates}`);
      assert.ok(Number(await page.locator('#chart-ingest canvas').getAttribute('data-points')) >= 2);
      assert.ok(Number(await page.locator('#chart-lag canvas').getAttribute('data-points')) >= 2);
      assert.deepEqual(problems.page, []);
      assert.deepEqual(problems.console, []);
    } finally {
      await context.close();
    }
  });

  test('says what is wrong when endpoints are missing, empty, malformed or down', async () => {
    // A browser logs every 4xx/5xx or failed load itself ("Failed to load resource"); that is the
    // only console error allowed here. The page must neither throw nor log anything.
    const onlyLoadFailures = (msgs) => msgs.filter((m) => !/^Failed to load resource/.test(m));
    const fulfil = (status, body) => (route) => route.fulfill({ status, contentType: 'application/json', body });
    let mode = 'malformed';
    const answers = {
      malformed: { '/streams': fulfil(200, '[1,2]'), '/queries': fulfil(200, '{"unexpected":true'),
                   '/tables': fulfil(200, '{"tables":[null,{"name":5,"latest":"x","primary_key":"k"}]}'),
                   '/checkpoints': fulfil(200, '{"checkpoints":[1,"x",null,{"ok":"maybe","at":12}]}') },
      missing: { '/streams': fulfil(404, '{"error":"no route for GET /streams"}'), '/queries': fulfil(200, ''),
                 '/tables': fulfil(200, '{"tables":[]}'), '/checkpoints': fulfil(500, '{"error":"checkpoint store unavailable"}') },
      down: Object.fromEntries(['/streams', '/queries', '/tables', '/checkpoints'].map((p) => [p, (route) => route.abort('connectionrefused')])),
    };
    const routes = Object.fromEntries(['/streams', '/queries', '/tables', '/checkpoints'].map((p) => [p, (route) => answers[mode][p](route)]));
    const { page, context, problems } = await openPage(routes);
    const msg = (id) => page.locator(`#${id} .msg`).first().textContent();
    const stateOf = (id) => page.locator(`#${id}`).getAttribute('data-state');
    try {
      await waitPolls(page, 2);
      assert.match(await msg('streams'), /unexpected shape/);
      assert.match(await msg('queries'), /not JSON/);
      assert.equal(await stateOf('checkpoints'), 'ok');
      assert.equal(await stateOf('tables'), 'ok');

      mode = 'missing';
      await waitPolls(page, 2);
      assert.match(await msg('streams'), /\/streams is not available on this server \(HTTP 404\)/);
      assert.match(await msg('queries'), /\/queries returned an empty response/);
      assert.equal(await msg('tables'), 'No key-value tables in this pipeline.');
      assert.match(await msg('checkpoints'), /\/checkpoints answered HTTP 500: checkpoint store unavailable/);
      assert.equal(await stateOf('streams'), 'error');
      assert.equal(await stateOf('tables'), 'empty');
      assert.match(await page.locator('#chart-ingest .legend').textContent(), /No ingest rate yet/);

      // The server goes away (a restart), then comes back.
      mode = 'down';
      await waitPolls(page, 2);
      assert.match(await page.locator('#conn').textContent(), /Cannot reach Sluice/);
      assert.match(await msg('queries'), /Cannot reach the server/);
      assert.match(await msg('streams'), /Cannot reach the server/);

      mode = 'missing';
      await waitPolls(page, 2);
      assert.match(await page.locator('#conn').textContent(), /^live/);
      assert.match(await msg('streams'), /HTTP 404/);
      assert.deepEqual(problems.page, [], 'uncaught exceptions in the page');
      assert.deepEqual(onlyLoadFailures(problems.console), [], 'console errors other than failed loads');
    } finally {
      await context.close();
    }
  });
});
