#!/usr/bin/env python3
"""Hold N connections to HOST:PORT the way slow and idle clients do: half
send nothing, half trickle a request header one byte a second. Reopens what
the server closes, so the pressure stays for the whole run. Loopback only.

    slow.py 127.0.0.1 18291 500 30    # 500 connections for 30 s
"""
import socket
import sys
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
assert host.startswith("127.") or host == "localhost", "loopback only"
HEAD = b"POST /api/v1/health/report HTTP/1.1\r\nHost: x\r\nX-Slow: "


def open_one(i):
    s = socket.create_connection((host, port))
    s.setblocking(False)
    if i % 2:
        s.send(HEAD)
    return s


conns = [open_one(i) for i in range(n)]
reopened = 0
end = time.time() + seconds
while time.time() < end:
    for i, s in enumerate(conns):
        try:
            if i % 2:
                s.send(b"x")
            else:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    raise ConnectionError
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            conns[i] = open_one(i)
            reopened += 1
    time.sleep(1)
print(f"slow clients: {n} held, {reopened} reopened after the server closed them")
