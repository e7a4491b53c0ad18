#!/usr/bin/env python3
"""Probes as a user runs them: `nines serve` with HTTP checks applied through
its API against a local nginx that counts requests (stub_status), and
Debian's blackbox_exporter driven by wrk against the same nginx, one after
the other in the same run. Loopback only, bounded in time.

    bench/probes/server.sh            # builds the release binary, then runs this

Shapes (interval 2 s, timeout 1 s): 400 services x 100 checks and 10,000
services x 4 checks (40,000 HTTP checks each), then 100,000 checks at 60 s
for start lateness and RSS. Figures per shape:

- probes/s: requests nginx answered per second while nines ran, after a
  warm-up (every request is one probe run);
- recorded/s: `nines_probe_runs_total` per second (results through the
  state machine, metrics, recent runs and storage);
- CPU: nines' user+system seconds per wall second (2.0 = both cores);
- RSS: nines' resident set at the end (and the peak sampled).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("NINES_BIN") or sys.exit("NINES_BIN: the release binary")
WARMUP = int(os.environ.get("WARMUP", "15"))
MEASURE = int(os.environ.get("MEASURE", "30"))
WRK_CONNECTIONS = int(os.environ.get("WRK_CONNECTIONS", "32"))
LATENESS_SECONDS = int(os.environ.get("LATENESS_SECONDS", "150"))
SHAPES = os.environ.get("SHAPES", "400x100,10000x4").split(",")
BIG = int(os.environ.get("BIG_CHECKS", "100000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url, key=None, timeout=30):
    req = urllib.request.Request(url)
    if key:
        req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def post(url, key, body, timeout=600):
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


class Nginx:
    def __init__(self, tmp):
        self.port = free_port()
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        conf = f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log crit;
events {{ worker_connections 16384; multi_accept on; }}
worker_rlimit_nofile 65536;
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{self.port} backlog=65535 reuseport;
    location = /nginx_status {{ stub_status; }}
    location / {{ default_type text/plain; return 200 "ok\\n"; }}
  }}
}}
"""
        path = os.path.join(self.dir, "nginx.conf")
        open(path, "w").write(conf)
        self.proc = subprocess.Popen(["nginx", "-c", path, "-p", self.dir, "-g", "daemon off;"])
        for _ in range(100):
            try:
                self.requests()
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def requests(self):
        # "Active connections: 1 \n server accepts handled requests\n 1 1 1 \n..."
        text = get(f"http://127.0.0.1:{self.port}/nginx_status", timeout=5)
        return int(text.splitlines()[2].split()[2])

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=10)


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return cpu, rss * 1024


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Nines:
    def __init__(self, tmp):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=tmp, prefix="nines-")
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                get(self.base + "/healthz", timeout=2)
                break
            except Exception:
                time.sleep(0.05)
        self.key = open(os.path.join(self.dir, "admin-api-key")).read().strip()

    def apply(self, services, checks, target, interval, timeout):
        """Services s0..s{n-1}, each with `checks` HTTP checks to distinct URLs."""
        batch = max(1, 2000 // checks)
        for start in range(0, services, batch):
            docs = []
            for s in range(start, min(services, start + batch)):
                lines = [
                    'version: "1"',
                    "hierarchy: {organization: bench, platform: p, environment: prod, cluster: c1}",
                    f"service: {{name: s{s}}}",
                    "checks:",
                ]
                for c in range(checks):
                    lines.append(
                        f"  - {{type: http, name: c{c}, url: '{target}/s{s}/c{c}', intervalSeconds: {interval}, timeoutSeconds: {timeout}}}"
                    )
                docs.append("\n".join(lines))
            post(self.base + "/api/v1/services/apply", self.key, "\n---\n".join(docs))

    def metrics(self):
        return get(self.base + "/metrics", self.key, timeout=120)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def nines_shape(tmp, nginx, services, checks):
    n = Nines(tmp)
    t0 = time.time()
    n.apply(services, checks, f"http://127.0.0.1:{nginx.port}", 2, 1)
    applied = time.time() - t0
    time.sleep(WARMUP)
    r0, c0 = nginx.requests(), proc_stat(n.proc.pid)[0]
    runs0 = metric(n.metrics(), "nines_probe_runs_total")
    t1 = time.time()
    peak = 0
    while time.time() - t1 < MEASURE:
        time.sleep(1)
        peak = max(peak, proc_stat(n.proc.pid)[1])
    dt = time.time() - t1
    r1 = nginx.requests()
    c1, rss = proc_stat(n.proc.pid)
    text = n.metrics()
    runs1 = metric(text, "nines_probe_runs_total")
    late = metric(text, "nines_probe_late_starts_total")
    n.stop()
    return {
        "probes_per_s": (r1 - r0 - 1) / dt,
        "recorded_per_s": (runs1 - runs0) / dt,
        "cpu": (c1 - c0) / dt,
        "rss_mb": rss / 1e6,
        "peak_rss_mb": max(peak, rss) / 1e6,
        "late_total": late,
        "apply_s": applied,
    }


def blackbox(tmp, nginx):
    port = free_port()
    conf = os.path.join(tmp, "blackbox.yml")
    open(conf, "w").write("modules:\n  http_2xx:\n    prober: http\n    timeout: 1s\n    http:\n      preferred_ip_protocol: ip4\n")
    exe = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
    p = subprocess.Popen([exe, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            get(f"http://127.0.0.1:{port}/")
            break
        except Exception:
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/probe?target=http://127.0.0.1:{nginx.port}/bb&module=http_2xx"
    r0 = nginx.requests()
    t0 = time.time()
    out = subprocess.run(["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{MEASURE}s", url], capture_output=True, text=True).stdout
    dt = time.time() - t0
    r1 = nginx.requests()
    p.terminate()
    p.wait()
    rps = next(float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec"))
    return {"wrk_rps": rps, "probes_per_s": (r1 - r0 - 1) / dt}


def lateness(tmp, nginx):
    n = Nines(tmp)
    services = BIG // 10
    n.apply(services, 10, f"http://127.0.0.1:{nginx.port}", 60, 10)
    t0 = time.time()
    runs0 = metric(n.metrics(), "nines_probe_runs_total")
    peak = 0
    while time.time() - t0 < LATENESS_SECONDS:
        time.sleep(2)
        peak = max(peak, proc_stat(n.proc.pid)[1])
    text = n.metrics()
    rss = proc_stat(n.proc.pid)[1]
    runs = metric(text, "nines_probe_runs_total") - runs0
    late = metric(text, "nines_probe_late_starts_total")
    n.stop()
    return {"checks": BIG, "runs": runs, "late_over_1s": late, "rss_mb": rss / 1e6, "peak_rss_mb": max(peak, rss) / 1e6}


def main():
    tmp = tempfile.mkdtemp(prefix="nines-probe-bench-")
    nginx = Nginx(tmp)
    try:
        print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}")
        results = {}
        bb = blackbox(tmp, nginx)
        print(f"blackbox_exporter (wrk -c{WRK_CONNECTIONS}, {MEASURE}s): {bb['probes_per_s']:.0f} probes/s (wrk {bb['wrk_rps']:.0f}/s)", flush=True)
        results["blackbox"] = bb
        for shape in SHAPES:
            s, c = (int(x) for x in shape.split("x"))
            r = nines_shape(tmp, nginx, s, c)
            results[shape] = r
            print(f"nines serve {s} services x {c} checks: {r['probes_per_s']:.0f} probes/s, recorded {r['recorded_per_s']:.0f}/s, "
                  f"cpu {r['cpu']:.2f} cores, rss {r['rss_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f}), "
                  f"ratio {r['probes_per_s'] / bb['probes_per_s']:.2f}x, applied in {r['apply_s']:.1f}s", flush=True)
        bb2 = blackbox(tmp, nginx)
        print(f"blackbox_exporter again: {bb2['probes_per_s']:.0f} probes/s", flush=True)
        results["blackbox_again"] = bb2
        if BIG > 0:
            lt = lateness(tmp, nginx)
            results["lateness"] = lt
            print(f"{lt['checks']} checks every 60 s for {LATENESS_SECONDS}s: {lt['runs']:.0f} runs, "
                  f"{lt['late_over_1s']:.0f} started over 1 s late, rss {lt['rss_mb']:.0f} MB (peak {lt['peak_rss_mb']:.0f})", flush=True)
        print(json.dumps(results))
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
