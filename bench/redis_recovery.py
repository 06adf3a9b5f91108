#!/usr/bin/python3
"""How long the limiter keeps answering the failure mode after Redis is
back (issue #16, "Recovery").

One nginx (1 worker, ds_redis_failure_mode closed) in front of the test
upstream, one redis-server. Each round: Redis is killed, stays down for
OUTAGE seconds, is started again; the time Redis returned is the first
moment a TCP connect to its port succeeds (this script probes it in a
tight loop); the time service is exact again is the first response with
$ds_ratelimit "allowed". Two traffic shapes:

  traffic  a client keeps sending requests through the outage (each one
           answered 503 at once), as in production under load;
  idle     no request at all: the time until the worker's connection
           shows up in Redis' CLIENT LIST, so only the worker's own
           reconnect timer counts (a request would start a probe).

Usage: bench/redis_recovery.py [BUILD_DIR] [ROUNDS]
(BUILD_DIR defaults to ./build; DS_BUILD works too.) Not a test: it
prints numbers and asserts nothing.
"""

import os
import socket
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

if len(sys.argv) > 1:
    os.environ["DS_BUILD"] = os.path.abspath(sys.argv[1])
os.environ.setdefault("DS_BUILD", os.path.join(REPO, "build"))
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5

sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import requests  # noqa: E402

from conftest import (Nginx, Redis, Upstream, TOKENS, free_port,  # noqa
                      make_policy, render_conf, write_policy)

SHARES = "/delta-sharing/shares"
AUTH = {"Authorization": "Bearer " + TOKENS["fraud"]}


def state(session, url):
    try:
        r = session.get(url, headers=AUTH, timeout=5)
        return r.headers.get("X-DS-RateLimit", "?")
    except requests.RequestException:
        return "error"


def redis_accepts(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_and_mark(redis):
    """Start redis-server; return the monotonic time its port opened."""
    import subprocess
    from conftest import REDIS_SERVER
    redis.proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(redis.port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", redis.workdir,
         "--logfile", os.path.join(redis.workdir, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not redis_accepts(redis.port):
        pass
    return time.monotonic()


def one_round(redis, url, outage, traffic):
    s = requests.Session()
    assert state(s, url) == "allowed"
    redis.stop()

    stop = threading.Event()
    seen = []                     # (time, state) of the background client

    def client():
        c = requests.Session()
        while not stop.is_set():
            st = state(c, url)
            seen.append((time.monotonic(), st))

    t = None
    if traffic:
        t = threading.Thread(target=client)
        t.start()
    time.sleep(outage)
    up = start_and_mark(redis)
    if traffic:
        while not any(st == "allowed" and ts >= up for ts, st in seen):
            time.sleep(0.0005)
        stop.set()
        t.join()
        exact = min(ts for ts, st in seen if st == "allowed" and ts >= up)
    else:
        # a request would start a probe of its own: watch Redis instead
        # for the worker's connection (the second client after ours)
        c = socket.create_connection(("127.0.0.1", redis.port))
        f = c.makefile("rb")
        while True:
            c.sendall(b"CLIENT LIST\r\n")
            n = int(f.readline()[1:])
            body = f.read(n + 2)
            if body.count(b"\n") >= 3:
                break
        exact = time.monotonic()
        c.close()
        while state(s, url) != "allowed":
            time.sleep(0.001)
    return (exact - up) * 1000.0


def main():
    work = tempfile.mkdtemp(prefix="ds-recovery-")
    up = Upstream(os.path.join(work, "upstream"))
    os.makedirs(up.workdir)
    up.start()
    rd = os.path.join(work, "redis")
    os.makedirs(rd)
    redis = Redis(rd)
    redis.start()

    policy = make_policy()
    for r in policy["recipients"]:
        if r["id"] == "fraud-analytics":
            r["rate_limit"] = {"requests": 1000000000, "per": "second"}
    prefix = os.path.join(work, "nginx")
    os.makedirs(prefix)
    pp = write_policy(os.path.join(prefix, "policy.json"), policy)
    port = free_port()
    extra = "\n".join([
        "    ds_redis 127.0.0.1:%d;" % redis.port,
        "    ds_redis_failure_mode closed;",
        "    add_header X-DS-RateLimit $ds_ratelimit always;"])
    ng = Nginx(prefix, render_conf(prefix, port, up.port, pp,
                                   http_extra=extra, log_level="error"))
    ng.port = port
    ng.start()
    url = "http://127.0.0.1:%d%s" % (port, SHARES)
    try:
        from conftest import wait_for
        wait_for(lambda: state(requests.Session(), url) == "allowed",
                 what="the limiter")
        print("build: %s, %d rounds" % (os.environ["DS_BUILD"], ROUNDS))
        print("| traffic | outage | median ms | min-max ms |")
        print("|---|---|---|---|")
        for traffic in (True, False):
            for outage in (0.5, 3.0):
                ms = [one_round(redis, url, outage, traffic)
                      for _ in range(ROUNDS)]
                print("| %s | %.1f s | %.1f | %.1f-%.1f |"
                      % ("traffic" if traffic else "idle", outage,
                         statistics.median(ms), min(ms), max(ms)))
                sys.stdout.flush()
    finally:
        ng.stop()
        redis.stop()
        up.stop()


if __name__ == "__main__":
    main()
