"""A load loop: GETs a URL at a steady rate until SIGTERM, one JSON line per request on stdout.

    load.py <url> <requests-per-second>
"""
import json
import signal
import sys
import time
import urllib.request

url, rate = sys.argv[1], float(sys.argv[2])
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
interval = 1.0 / rate
next_at = time.monotonic()
n = 0
while not stopping:
    n += 1
    started = time.time()
    line = {"n": n, "at": started}
    try:
        with urllib.request.urlopen(f"{url}?text=request+{n}+of+the+load+loop", timeout=10) as res:
            line["status"] = res.status
            line["body"] = res.read().decode()[:200]
    except Exception as err:  # noqa: BLE001 - every failure is a result to report
        line["error"] = f"{type(err).__name__}: {err}"[:300]
    line["ms"] = round((time.time() - started) * 1000)
    print(json.dumps(line), flush=True)
    next_at += interval
    time.sleep(max(0.0, next_at - time.monotonic()))
