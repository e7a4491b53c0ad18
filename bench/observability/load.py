#!/usr/bin/env python3
"""Fill a VictoriaMetrics and a VictoriaLogs with 31 days of data for ORGS
organizations (bench/observability/run.sh): SERIES series per organization
with a sample every hour (so every 5-minute slot sees each series active),
and LINES log lines per organization and hour, each with the organization
label. Past timestamps; flushed at the end. Standard library only."""
import json
import sys
import time
import urllib.request

vm, vl, orgs, series, lines = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
HOUR = 3600
now = int(time.time()) // HOUR * HOUR
start = now - 31 * 24 * HOUR
hours = list(range(start + 90, now, HOUR))


def post(url, body, ctype):
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()


t0 = time.time()
batch = []
for o in range(orgs):
    for s in range(series):
        batch.append(json.dumps({
            "metric": {"__name__": f"app_metric_{s}", "customer": f"org-{o:04d}", "job": "bench"},
            "values": [1] * len(hours),
            "timestamps": [h * 1000 for h in hours],
        }))
        if len(batch) >= 200:
            post(f"{vm}/api/v1/import", "\n".join(batch) + "\n", "application/json")
            batch = []
if batch:
    post(f"{vm}/api/v1/import", "\n".join(batch) + "\n", "application/json")
urllib.request.urlopen(f"{vm}/internal/force_flush").read()
print(f"VictoriaMetrics: {orgs * series} series x {len(hours)} samples in {time.time() - t0:.1f} s", flush=True)

t0 = time.time()
label = "organizations.polycrate.io/name"
batch = []
n = 0
for h in range(start, now, HOUR):
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h + 600))
    for o in range(orgs):
        for k in range(lines):
            batch.append(json.dumps({"_time": ts, "_msg": f"request {k} served in 12 ms for org {o}", label: f"org-{o:04d}", "app": "web"}))
            n += 1
    if len(batch) >= 20000:
        post(f"{vl}/insert/jsonline?_time_field=_time&_msg_field=_msg&_stream_fields=app", "\n".join(batch) + "\n", "application/stream+json")
        batch = []
if batch:
    post(f"{vl}/insert/jsonline?_time_field=_time&_msg_field=_msg&_stream_fields=app", "\n".join(batch) + "\n", "application/stream+json")
urllib.request.urlopen(f"{vl}/internal/force_flush").read()
print(f"VictoriaLogs: {n} lines in {time.time() - t0:.1f} s", flush=True)
