#!/usr/bin/env python3
"""The memory of `nines serve` with 100,000 checks, over time.

The lateness run of server.py, with more to see: RSS every 2 s, the split of
the resident set from /proc/PID/smaps_rollup at the end, runs and late
starts. Used to compare allocators:

    cargo build --release -p nines                        # mimalloc (default)
    cargo build --release -p nines --no-default-features  # the system's malloc
    PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 bench/probes/memory.py

Environment: NINES_BIN (default: the release binary under CARGO_TARGET_DIR),
SECS (default 150), PRELOAD (an allocator to LD_PRELOAD into nines only),
BIG_CHECKS (default 100,000). Needs nginx-light (Debian).
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/nines-target"))
os.environ.setdefault("NINES_BIN", os.path.join(target, "release", "nines"))
import server as S  # noqa: E402


def smaps(pid):
    d = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[2] == "kB":
                d[p[0].rstrip(":")] = int(p[1]) // 1024
    return {k: d[k] for k in ("Rss", "Anonymous", "Private_Clean") if k in d}


def main():
    tmp = tempfile.mkdtemp(prefix="nines-mem-")
    nginx = S.Nginx(tmp)
    try:
        if os.environ.get("PRELOAD"):
            os.environ["LD_PRELOAD"] = os.environ["PRELOAD"]
        n = S.Nines(tmp)
        os.environ.pop("LD_PRELOAD", None)
        t0 = time.time()
        n.apply(S.BIG // 10, 10, f"http://127.0.0.1:{nginx.port}", 60, 10)
        print(f"applied {S.BIG} checks in {time.time() - t0:.0f} s, rss {S.proc_stat(n.proc.pid)[1] / 1e6:.0f} MB", flush=True)
        n.metrics()
        peak, t1 = 0, time.time()
        secs = int(os.environ.get("SECS", "150"))
        while time.time() - t1 < secs:
            time.sleep(2)
            rss = S.proc_stat(n.proc.pid)[1]
            peak = max(peak, rss)
            if int(time.time() - t1) % 20 < 2:
                print(f"  t={time.time() - t1:.0f}s rss {rss / 1e6:.0f} MB", flush=True)
        print("smaps_rollup (MB):", smaps(n.proc.pid), flush=True)
        text = n.metrics()
        rss = S.proc_stat(n.proc.pid)[1]
        print(f"runs {S.metric(text, 'nines_probe_runs_total'):.0f}, "
              f"late {S.metric(text, 'nines_probe_late_starts_total'):.0f}, "
              f"rss at the end {rss / 1e6:.0f} MB, peak {max(peak, rss) / 1e6:.0f} MB", flush=True)
        n.stop()
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
