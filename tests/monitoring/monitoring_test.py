#!/usr/bin/env python3
"""Monitoring test (docs/monitoring.md, "The monitoring test").

Starts `sluice run` of the Wild Rydes pipeline on 127.0.0.1 with the unicorn producer posting
load, and Debian's `prometheus` scraping it every second (with examples/prometheus/alerts.yml
loaded). Then:
  - checks the dashboards' JSON model (schemaVersion, __inputs, ${datasource} on every panel
    and target, rows, units);
  - evaluates every PromQL expression of examples/grafana/*.json through the HTTP API, with
    Grafana's variables substituted, and requires data; rate()/increase()/histogram_quantile()
    must be applied to counters/histograms (by Prometheus's own metadata);
  - requires every alert rule to load, evaluate without error and carry severity, summary and
    description;
  - runs `promtool check metrics` on /metrics, `promtool check config`, `promtool check rules`
    and `promtool test rules` on examples/prometheus.
Prints every failure, exits 1 if there is any. Python 3 standard library only.

Usage: monitoring_test.py --sluice BIN --producer BIN --source-dir DIR --work-dir DIR
"""
import argparse
import ctypes
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SCRAPE_SECONDS = 1
RATE_INTERVAL = "20s"   # $__rate_interval (Grafana: max(4 x scrape interval, $__interval + scrape))
INTERVAL = "2s"         # $__interval and the range queries' step
MIN_SCRAPES = 20        # samples of `up` before the expressions are evaluated
DEADLINE_SECONDS = 75   # for the whole test, well inside the CTest TIMEOUT
REQUIRED_ROWS = ["ingest", "queries and watermarks", "sinks", "checkpoints", "process"]
REQUIRED_ALERTS = ["SluiceWatermarkLagHigh", "SluiceCheckpointStale", "SluiceDeadLettersRising",
                   "SluiceIngestThrottled", "SluiceDiskNearlyFull", "SluiceQueryStopped", "SluiceDown"]

failures = []
started = time.monotonic()


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


def log(msg):
    print(f"[{time.monotonic() - started:5.1f}s] {msg}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: the child is killed if this test dies, even by SIGKILL (CTest timeout).
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    os.setpgid(0, 0)


class Processes:
    """The processes this test started; stops them all (TERM, then KILL) on exit."""

    def __init__(self):
        self.procs = []  # (name, Popen, log path)

    def start(self, name, argv, log_path):
        out = open(log_path, "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_parent)
        out.close()
        self.procs.append((name, p, log_path))
        return p

    def check_alive(self):
        for name, p, log_path in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited early with code {p.returncode}:\n{tail(log_path)}")

    def stop_all(self):
        for _, p, _ in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for name, p, _ in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} ignored SIGTERM; killing it")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_for(what, check, timeout, procs):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            if check():
                return
        except (urllib.error.URLError, ConnectionError, OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.25)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last})" if last else ""))


class Prom:
    def __init__(self, base):
        self.base = base

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read().decode())
        except urllib.error.HTTPError as e:  # 400/422 carry a JSON error body
            return json.loads(e.read().decode())

    def query(self, expr):
        return self.api("query", query=expr)

    def scalar(self, expr):
        r = self.query(expr)
        if r.get("status") != "success" or not r["data"]["result"]:
            return None
        return float(r["data"]["result"][0]["value"][1])


# ----------------------------------------------------------------------------- static checks

def run(argv, stdin=None):
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def check_promtool_files(src):
    prom_dir = os.path.join(src, "examples", "prometheus")
    config = os.path.join(prom_dir, "prometheus.yml")
    rules = os.path.join(prom_dir, "alerts.yml")
    tests = os.path.join(prom_dir, "alerts_test.yml")
    for what, argv in (("promtool check config", ["promtool", "check", "config", config]),
                       ("promtool check rules", ["promtool", "check", "rules", rules]),
                       ("promtool test rules", ["promtool", "test", "rules", tests])):
        rc, out = run(argv)
        if rc != 0:
            fail(f"{what} failed (exit {rc}):\n{out}")
        else:
            log(f"{what}: ok")
    # The config scrapes Sluice's default address.
    with open(config) as f:
        text = f.read()
    if "127.0.0.1:4567" not in text or "alerts.yml" not in text:
        fail("examples/prometheus/prometheus.yml must scrape 127.0.0.1:4567 and load alerts.yml")
    # Every required alert is defined, and every rule has a test case.
    with open(rules) as f:
        defined = re.findall(r"^\s*-\s*alert:\s*(\S+)", f.read(), re.M)
    with open(tests) as f:
        tested = re.findall(r"^\s*alertname:\s*(\S+)", f.read(), re.M)
    for name in REQUIRED_ALERTS:
        if name not in defined:
            fail(f"alerts.yml has no rule {name}")
    for name in defined:
        if name not in tested:
            fail(f"alerts_test.yml has no test of {name}")
    return defined


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard(path, required_rows):
    """Checks the JSON model; returns (dashboard, [(panel title, panel type, expr, legendFormat)])."""
    name = os.path.basename(path)
    with open(path) as f:
        d = json.load(f)
    if d.get("schemaVersion", 0) < 39:
        fail(f"{name}: schemaVersion {d.get('schemaVersion')} < 39")
    inputs = d.get("__inputs", [])
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource" and i.get("pluginId") == "prometheus"
               for i in inputs):
        fail(f"{name}: no __inputs entry DS_PROMETHEUS (type datasource, pluginId prometheus)")
    variables = d.get("templating", {}).get("list", [])
    ds_vars = [v for v in variables if v.get("name") == "datasource"]
    if not ds_vars or ds_vars[0].get("type") != "datasource" or ds_vars[0].get("query") != "prometheus":
        fail(f"{name}: no templating variable 'datasource' of type datasource with query prometheus")
    want_ds = {"type": "prometheus", "uid": "${datasource}"}
    for v in variables:
        if v.get("type") == "query" and v.get("datasource") != want_ds:
            fail(f"{name}: variable {v.get('name')} does not use ${{datasource}}")
    exprs = []
    ids = set()
    rows = []
    for p in walk_panels(d.get("panels", [])):
        title = p.get("title", "?")
        if p.get("id") in ids:
            fail(f"{name}: panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if "gridPos" not in p:
            fail(f"{name}: panel '{title}' has no gridPos")
        if p.get("type") == "row":
            rows.append(title.lower())
            continue
        if p.get("datasource") != want_ds:
            fail(f"{name}: panel '{title}' datasource is {p.get('datasource')}, not ${{datasource}}")
        if p.get("type") not in ("timeseries", "stat", "table", "bargauge", "gauge"):
            fail(f"{name}: panel '{title}' has type {p.get('type')}")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            fail(f"{name}: panel '{title}' sets no unit")
        targets = p.get("targets", [])
        if not targets:
            fail(f"{name}: panel '{title}' has no targets")
        for t in targets:
            if t.get("datasource") != want_ds:
                fail(f"{name}: a target of '{title}' does not use ${{datasource}}")
            if not t.get("expr"):
                fail(f"{name}: a target of '{title}' has no expr")
                continue
            exprs.append((title, p.get("type"), t["expr"], t.get("legendFormat", "")))
    for r in required_rows:
        if r not in rows:
            fail(f"{name}: no row '{r}' (rows: {rows})")
    return d, exprs


# ----------------------------------------------------------------------------- variables

VAR_RE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr, values):
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        unknown.append(name)
        return m.group(0)

    out = VAR_RE.sub(repl, expr)
    if unknown:
        raise ValueError(f"unknown variable(s) {', '.join(sorted(set(unknown)))}")
    return out


def resolve_variables(dashboard, prom, builtins, name):
    """Evaluates the dashboard's query variables in order (as Grafana does, each may use the
    previous ones) and returns name -> value as Grafana formats "All" for Prometheus: (a|b)."""
    values = dict(builtins)
    for v in dashboard.get("templating", {}).get("list", []):
        vname = v.get("name")
        if v.get("type") == "datasource":
            values[vname] = "prometheus"
        elif v.get("type") in ("textbox", "constant", "custom"):
            values[vname] = str(v.get("query", ""))
        elif v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*", q or "")
            if not m:
                fail(f"{name}: variable {vname}: only label_values(...) queries are checked, got {q!r}")
                continue
            selector = substitute(m.group(1), values) if m.group(1) else None
            params = {"match[]": selector} if selector else {}
            r = prom.api(f"label/{m.group(2)}/values", **params)
            got = r.get("data") or []
            if r.get("status") != "success" or not got:
                fail(f"{name}: variable {vname} ({q}) has no values: {r.get('error', 'empty')}")
                values[vname] = ".*"
            else:
                values[vname] = got[0] if len(got) == 1 else "(" + "|".join(got) + ")"
                log(f"{name}: ${vname} = {values[vname]}")
    return values


# ----------------------------------------------------------------------------- expressions

RATE_RE = re.compile(r"\b(rate|irate|increase|histogram_quantile)\s*\(")
METRIC_RE = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)")


def check_functions(expr, metadata, where):
    """rate()/increase() take counters (or a histogram's _bucket/_sum/_count), histogram_quantile()
    takes _bucket series summed by le; a gauge under rate() is an error."""
    for m in re.finditer(r"\b(rate|irate|increase)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", expr):
        fn, metric = m.groups()
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        types = {x.get("type") for x in metadata.get(metric, []) + metadata.get(base, [])}
        if not types:
            continue  # missing metrics are reported when the expression returns no data
        if not types & {"counter", "histogram", "summary"}:
            fail(f"{where}: {fn}() over {metric}, which is a {'/'.join(sorted(types))}, not a counter")
    if "histogram_quantile" in expr and not re.search(r"by\s*\([^)]*\ble\b", expr):
        fail(f"{where}: histogram_quantile() without sum by (le, ...)")


def has_data(result):
    kind = result["data"]["resultType"]
    res = result["data"]["result"]
    if kind == "scalar":
        return True, ""
    if not res:
        return False, "no series"
    values = []
    for s in res:
        if "value" in s:
            values.append(s["value"][1])
        values.extend(v[1] for v in s.get("values", []))
    if values and all(v in ("NaN", "+Inf", "-Inf") for v in values):
        return False, f"only {values[0]} values"
    return True, ""


def evaluate_dashboard(name, exprs, values, prom, metadata, range_seconds):
    ok = 0
    for title, ptype, raw, legend in exprs:
        where = f"{name} panel '{title}'"
        try:
            expr = substitute(raw, values)
        except ValueError as e:
            fail(f"{where}: {e} in {raw}")
            continue
        check_functions(expr, metadata, where)
        r = prom.query(expr)
        if r.get("status") != "success":
            fail(f"{where}: query error: {r.get('error')}\n    {expr}")
            continue
        good, why = has_data(r)
        if not good:
            fail(f"{where}: {why}\n    {expr}")
            continue
        # Every label the legend names must be on the series (a metric missing a label still
        # returns data, but the legend would be blank).
        series_labels = set().union(*(s.get("metric", {}).keys() for s in r["data"]["result"]
                                      if isinstance(s, dict)))
        absent = [lab for lab in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend) if lab not in series_labels]
        if absent:
            fail(f"{where}: no series has the label(s) {', '.join(absent)} its legend shows\n    {expr}")
            continue
        if ptype == "timeseries":
            now = time.time()
            rr = prom.api("query_range", query=expr, start=f"{now - range_seconds:.3f}", end=f"{now:.3f}",
                          step=INTERVAL.rstrip("s"))
            if rr.get("status") != "success":
                fail(f"{where}: range query error: {rr.get('error')}\n    {expr}")
                continue
            good, why = has_data(rr)
            if not good:
                fail(f"{where}: range query: {why}\n    {expr}")
                continue
        ok += 1
    log(f"{name}: {ok} of {len(exprs)} expressions returned data")


def check_alert_rules(prom, defined):
    r = prom.api("rules", type="alert")
    if r.get("status") != "success":
        fail(f"/api/v1/rules: {r.get('error')}")
        return
    rules = [rule for g in r["data"]["groups"] for rule in g["rules"]]
    loaded = {rule["name"] for rule in rules}
    for name in defined:
        if name not in loaded:
            fail(f"alert {name} is in alerts.yml but Prometheus did not load it")
    for rule in rules:
        where = f"alert {rule['name']}"
        if rule.get("health") != "ok":
            fail(f"{where}: health {rule.get('health')}: {rule.get('lastError')}")
        if rule.get("labels", {}).get("severity") not in ("warning", "critical", "info"):
            fail(f"{where}: no severity label")
        for a in ("summary", "description"):
            if not rule.get("annotations", {}).get(a):
                fail(f"{where}: no {a} annotation")
        q = prom.query(rule["query"])
        if q.get("status") != "success":
            fail(f"{where}: expression invalid: {q.get('error')}\n    {rule['query']}")
        else:
            state = f"{len(q['data']['result'])} series" if q["data"]["result"] else "no series"
            log(f"{where}: valid ({state}, {rule.get('state')})")


def check_metrics_body(sluice_url):
    status, body = http_get(f"{sluice_url}/metrics")
    rc, out = run(["promtool", "check", "metrics"], stdin=body)
    if rc != 0 or out:
        fail(f"promtool check metrics reported problems (exit {rc}):\n{out}")
    else:
        log("promtool check metrics: ok")


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--producer", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)

    missing = [t for t in ("prometheus", "promtool") if shutil.which(t) is None]
    if missing:
        print(f"FAIL: {' and '.join(missing)} not found in PATH. Install Debian's prometheus package: "
              f"scripts/install-deps.sh (as root), or apt-get install prometheus.", flush=True)
        return 1

    _, version = run(["prometheus", "--version"])
    log(f"using {version.splitlines()[0] if version else 'prometheus'}")
    defined = check_promtool_files(src)
    dashboards = []
    for fname, rows in (("sluice.json", REQUIRED_ROWS), ("wildrydes.json", [])):
        path = os.path.join(src, "examples", "grafana", fname)
        try:
            d, exprs = check_dashboard(path, rows)
            dashboards.append((fname, d, exprs))
            log(f"{fname}: {len(exprs)} expressions")
        except (OSError, json.JSONDecodeError) as e:
            fail(f"{fname}: {e}")

    work = os.path.abspath(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    procs = Processes()

    def on_signal(signum, _):
        procs.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sluice_log = os.path.join(work, "sluice.log")
    prom_log = os.path.join(work, "prometheus.log")
    try:
        sluice_port = free_port()
        sluice_url = f"http://127.0.0.1:{sluice_port}"
        procs.start("sluice", [args.sluice, "run", os.path.join(src, "examples", "wildrydes", "pipeline.sql"),
                               "--data-dir", os.path.join(work, "data"), "--listen", f"127.0.0.1:{sluice_port}"],
                    sluice_log)
        wait_for("sluice /metrics", lambda: http_get(f"{sluice_url}/metrics")[0] == 200, 20, procs)
        log(f"sluice serving on {sluice_url}")
        procs.start("unicorn-producer", [args.producer, "--endpoint", sluice_url, "--unicorns", "20",
                                         "--speedup", "20"], os.path.join(work, "producer.log"))

        prom_port = free_port()
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""# Generated by tests/monitoring/monitoring_test.py
global:
  scrape_interval: {SCRAPE_SECONDS}s
  evaluation_interval: {SCRAPE_SECONDS}s
rule_files:
  - {os.path.join(src, 'examples', 'prometheus', 'alerts.yml')}
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ["127.0.0.1:{sluice_port}"]
""")
        procs.start("prometheus", ["prometheus", f"--config.file={config}",
                                   f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn",
                                   "--web.enable-lifecycle"], prom_log)
        prom = Prom(f"http://127.0.0.1:{prom_port}")
        wait_for("prometheus /-/ready", lambda: http_get(f"{prom.base}/-/ready")[0] == 200, 20, procs)
        prom_started = time.monotonic()
        log(f"prometheus ready on {prom.base}")

        def enough():
            n = prom.scalar('count_over_time(up{job="sluice"}[5m])')
            up = prom.scalar('up{job="sluice"}')
            rows = prom.scalar('sum(sluice_sink_rows_total{job="sluice", sink="unicorn_minutes"})')
            return n is not None and n >= MIN_SCRAPES and up == 1 and rows is not None and rows > 0

        remaining = DEADLINE_SECONDS - (time.monotonic() - started)
        wait_for(f"{MIN_SCRAPES} scrapes of sluice and a fired window", enough, max(10, remaining - 20), procs)
        range_seconds = int(time.monotonic() - prom_started)
        log(f"scraped for {range_seconds}s")

        check_metrics_body(sluice_url)
        metadata = prom.api("metadata").get("data", {})
        builtins = {"__rate_interval": RATE_INTERVAL, "__interval": INTERVAL,
                    "__interval_ms": str(int(INTERVAL.rstrip("s")) * 1000),
                    "__range": f"{range_seconds}s", "__range_s": str(range_seconds),
                    "__range_ms": str(range_seconds * 1000)}
        for fname, d, exprs in dashboards:
            values = resolve_variables(d, prom, builtins, fname)
            evaluate_dashboard(fname, exprs, values, prom, metadata, range_seconds)
        check_alert_rules(prom, defined)
        procs.check_alive()
    except Exception as e:  # noqa: BLE001 - report anything, then clean up
        fail(f"{type(e).__name__}: {e}")
        print(f"--- sluice log ---\n{tail(sluice_log)}\n--- prometheus log ---\n{tail(prom_log)}", flush=True)
    finally:
        procs.stop_all()

    elapsed = time.monotonic() - started
    if failures:
        print(f"\nmonitoring_test: {len(failures)} failure(s) in {elapsed:.0f}s:", flush=True)
        for f in failures:
            print("  - " + f.splitlines()[0])
        print(f"(logs in {work})")
        return 1
    print(f"\nmonitoring_test: all checks passed in {elapsed:.0f}s")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
