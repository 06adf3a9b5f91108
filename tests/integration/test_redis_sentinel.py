"""Redis Sentinel (issue #16): `ds_redis sentinel=... master=NAME` asks
the sentinels where the primary is at every (re)connection and follows
a failover. Real processes on loopback: a primary, one replica and three
redis-sentinel (quorum 2). No timing assertions: waits are bounded
("it did not hang"), a generous bound for the failover."""

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import (REDIS_TLS, Redis, dsctl, free_port, stop_process,
                      wait_for)
from test_ratelimit import get, limited_policy

SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
MASTER = "mymaster"
LIMIT = {"requests": 5, "per": "minute", "burst": 2}     # 7 at once

pytestmark = pytest.mark.skipif(REDIS_TLS, reason="a plaintext sentinel set "
                                "(TLS: test_redis_sentinel_access.py)")


class Replica(Redis):
    def __init__(self, workdir, primary_port):
        super().__init__(workdir)
        self.primary_port = primary_port

    def args(self):
        return super().args() + ["--replicaof", "127.0.0.1",
                                 str(self.primary_port)]


class Sentinel:
    def __init__(self, workdir, primary_port):
        self.workdir = workdir
        self.port = free_port()
        self.conf = os.path.join(workdir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds %s 400\n"
                    "sentinel failover-timeout %s 2000\n"
                    % (self.port, workdir,
                       os.path.join(workdir, "sentinel.log"),
                       MASTER, primary_port, MASTER, MASTER))
        self.proc = subprocess.Popen([SENTINEL, self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG",
                 what="sentinel on %d" % self.port)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=5)
        return r.stdout.strip()

    def master_port(self):
        out = self.cli("SENTINEL", "get-master-addr-by-name", MASTER).split()
        return int(out[1]) if len(out) == 2 else None

    def others(self):
        return self.cli("SENTINEL", "sentinels", MASTER).count("runid")

    def stop(self):
        stop_process(self.proc, signal.SIGKILL)


@pytest.fixture
def sentinel_set(tmp_path):
    """primary + replica + 3 sentinels that know each other."""
    procs = []
    dirs = {}
    for name in ("primary", "replica", "s0", "s1", "s2"):
        dirs[name] = str(tmp_path / name)
        os.makedirs(dirs[name])
    primary = Redis(dirs["primary"])
    primary.start()
    procs.append(primary)
    replica = Replica(dirs["replica"], primary.port)
    replica.start()
    procs.append(replica)
    try:
        wait_for(lambda: "master_link_status:up"
                 in replica.cli("INFO", "replication"),
                 timeout=15, what="the replica to sync")
        sentinels = []
        for i in range(3):
            s = Sentinel(dirs["s%d" % i], primary.port)
            sentinels.append(s)
            procs.append(s)
        # failover needs the sentinels to know each other and the replica
        wait_for(lambda: all(s.others() == 2 for s in sentinels)
                 and all("num-slaves" in s.cli("SENTINEL", "master", MASTER)
                         for s in sentinels),
                 timeout=20, what="the sentinels to find each other")
        wait_for(lambda: all(_slaves(s) == 1 for s in sentinels),
                 timeout=20, what="the sentinels to find the replica")
        yield primary, replica, sentinels
    finally:
        for p in procs:
            p.stop()


def _slaves(s):
    out = s.cli("SENTINEL", "master", MASTER).split("\n")
    for i, k in enumerate(out[:-1]):
        if k == "num-slaves":
            return int(out[i + 1])
    return -1


def sentinel_list(sentinels):
    return ",".join("127.0.0.1:%d" % s.port for s in sentinels)


def sentinel_conf(sentinels, extra=""):
    addrs = sentinel_list(sentinels)
    return "\n".join([
        "    ds_redis sentinel=%s master=%s%s;" % (addrs, MASTER, extra),
        "    ds_redis_connect_timeout 500ms;",
        "    add_header X-DS-RateLimit $ds_ratelimit always;"])


def connected(ng):
    """Wait until the worker has a primary (another recipient asks, the
    limited one keeps its quota): slow under valgrind."""
    wait_for(lambda: get(ng, who="dist").headers.get("X-DS-RateLimit")
             != "unavailable", timeout=30, what="a primary")


def exact(ng):
    """7 allowed at once, then limited."""
    connected(ng)
    for i in range(7):
        r = get(ng)
        assert r.status_code == 200, (i, r.status_code, r.text)
        assert r.headers["X-DS-RateLimit"] == "allowed"
    assert get(ng).status_code == 429


def test_follows_a_failover_under_load(nginx, sentinel_set):
    primary, replica, sentinels = sentinel_set
    ng = nginx(policy=limited_policy(LIMIT), http_extra=sentinel_conf(
        sentinels))
    exact(ng)
    assert ("primary of \"%s\" is 127.0.0.1:%d" % (MASTER, primary.port)
            in ng.log_since(0))
    mark = ng.log_size()

    answers, times = [], []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            # bounded: a stalled worker would raise Timeout and show here
            try:
                r = get(ng, timeout=5)
                answers.append((r.status_code,
                                r.headers.get("X-DS-RateLimit")))
                times.append(time.time())
            except requests.RequestException as e:
                answers.append(("error", repr(e)))

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.3)
        killed = time.time()
        primary.stop()          # SIGKILL
        wait_for(lambda: all(s.master_port() == replica.port
                             for s in sentinels),
                 timeout=60, what="the sentinels to promote the replica")
        # the gateway follows by itself under the load
        wait_for(lambda: answers and answers[-1][1] != "unavailable",
                 timeout=15, what="the limiter on the new primary")
    finally:
        stop.set()
        t.join(10)

    assert not t.is_alive()
    # only limiter answers or the failure mode's (closed: 503), no hang
    seen = set(answers)
    assert seen <= {(429, "limited"), (503, "unavailable"),
                    (200, "allowed")}, seen
    assert (503, "unavailable") in seen
    gap = [t for a, t in zip(answers, times) if a[1] == "unavailable"]
    print("failover: %d answers, failure mode from %.0f to %.0f ms after "
          "the kill" % (len(answers), (gap[0] - killed) * 1000,
                        (gap[-1] - killed) * 1000))
    log = ng.log_since(mark)
    assert ("primary of \"%s\" is 127.0.0.1:%d, was 127.0.0.1:%d"
            % (MASTER, replica.port, primary.port)) in log, log

    # exact again on the new primary, from a clean slate
    assert replica.cli("FLUSHALL") == "OK"
    exact(ng)

    # a revocation set on the new primary takes effect; dsctl finds the
    # new primary through the sentinels, past a dead one
    r = dsctl("revoke", "recipient", "fraud-analytics", "--sentinel",
              "127.0.0.1:%d,%s" % (free_port(), sentinel_list(sentinels)),
              "--master", MASTER)
    assert r.returncode == 0, r.stderr
    assert replica.cli("EXISTS", "ds:{fraud-analytics}:revoked") == "1"
    wait_for(lambda: get(ng).headers.get("X-DS-RateLimit") == "revoked",
             timeout=5, what="the revocation on the new primary")


def test_sentinels_down_failure_mode_no_hang(nginx):
    dead, other = free_port(), free_port()
    ng = nginx(policy=limited_policy(LIMIT), http_extra="\n".join([
        "    ds_redis sentinel=127.0.0.1:%d,127.0.0.1:%d master=%s;"
        % (dead, other, MASTER),
        "    add_header X-DS-RateLimit $ds_ratelimit always;"]))
    end = time.monotonic() + 1.5
    n = 0
    while time.monotonic() < end:
        r = get(ng, timeout=5)
        assert (r.status_code, r.headers["X-DS-RateLimit"]) \
            == (503, "unavailable")
        n += 1
    assert n > 10
    log = ng.log_since(0)
    # rate-limited as the outage lines are: not one per attempt
    # each sentinel's failure in the first round, then one round in 10 s
    assert 1 <= log.count("cannot connect to sentinel 127.0.0.1:%d"
                          % dead) <= 2, log
    assert 1 <= log.count("cannot connect to sentinel 127.0.0.1:%d"
                          % other) <= 2, log
    assert log.count("no sentinel told the address of master") <= 2


def test_readonly_reply_rediscovers(nginx, sentinel_set):
    # the sentinels still name the primary: a -READONLY from it (made a
    # replica behind their back) drops the connection and asks again
    primary, replica, sentinels = sentinel_set
    ng = nginx(policy=limited_policy(LIMIT), http_extra=sentinel_conf(
        sentinels))
    exact(ng)
    mark = ng.log_size()
    # a clean slate, so that the next request writes (a limited one
    # need not)
    assert primary.cli("FLUSHALL") == "OK"
    assert primary.cli("REPLICAOF", "127.0.0.1",
                       str(replica.port)) == "OK"
    try:
        wait_for(lambda: "master_link_status:up"
                 in primary.cli("INFO", "replication"),
                 timeout=15, what="the old primary to sync as a replica")
        r = get(ng)
        assert r.status_code == 503
        wait_for(lambda: "answered -READONLY" in ng.log_since(mark),
                 timeout=5, what="the -READONLY to be noticed")
    finally:
        primary.cli("REPLICAOF", "NO", "ONE")


@pytest.mark.parametrize("params,message", [
    ("sentinel=127.0.0.1:26379", "sentinel= needs master=NAME"),
    ("sentinel=127.0.0.1:26379,,127.0.0.1:26380 master=m",
     "empty address in"),
    ("sentinel=127.0.0.1:26379, master=m", "empty address in"),
    ("sentinel=unix:/tmp/s.sock master=m", "sentinel= takes HOST:PORT"),
    ("sentinel=127.0.0.1 master=m", "is not HOST:PORT"),
    ("sentinel=sentinel.example master=m", "is not HOST:PORT"),
    ("127.0.0.1:6379 master=m", "master= goes with sentinel="),
    ("sentinel=127.0.0.1:26379 master=", "master= takes 1 to 256"),
])
def test_config_errors(nginx, params, message, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False, http_extra="    ds_redis %s;" % params)
    rc, out = ng.test_config()
    assert rc != 0
    assert message in out, out


def test_config_ok(nginx):
    ng = nginx(start=False, http_extra="    ds_redis sentinel=127.0.0.1:26379,"
               "[::1]:26380 master=m db=2 prefix=gw:;")
    rc, out = ng.test_config()
    assert rc == 0, out


def test_dsctl_sentinel(sentinel_set):
    primary, replica, sentinels = sentinel_set
    lst = sentinel_list(sentinels)
    r = dsctl("revoke", "token", "fa-1", "--sentinel", lst,
              "--master", MASTER, "--recipient", "fraud-analytics")
    assert r.returncode == 0, r.stderr
    assert primary.cli("SISMEMBER", "ds:{fraud-analytics}:revoked_tokens",
                       "fa-1") == "1"
    assert "token fa-1" in dsctl("revoke", "list", "--sentinel", lst,
                                 "--master", MASTER).stdout
    r = dsctl("unrevoke", "token", "fa-1", "--sentinel", lst,
              "--master", MASTER, "--recipient", "fraud-analytics")
    assert r.returncode == 0, r.stderr
    assert primary.cli("SISMEMBER", "ds:{fraud-analytics}:revoked_tokens",
                       "fa-1") == "0"

    # an unknown master, or no sentinel up: exit non-zero, say why
    r = dsctl("revoke", "token", "fa-1", "--sentinel", lst,
              "--master", "nope", "--recipient", "fraud-analytics")
    assert r.returncode != 0
    assert 'no sentinel told the address of master "nope"' in r.stderr
    r = dsctl("revoke", "token", "fa-1", "--sentinel",
              "127.0.0.1:%d" % free_port(), "--master", MASTER,
              "--recipient", "fraud-analytics")
    assert r.returncode != 0
    assert "no sentinel told" in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--sentinel", "127.0.0.1:1"], "--sentinel and --master go together"),
    (["--master", "m"], "--sentinel and --master go together"),
    (["--sentinel", "127.0.0.1:1", "--master", "m", "--redis",
      "127.0.0.1:2"], "--redis or --sentinel, not both"),
    (["--sentinel", "unix:/tmp/x", "--master", "m"],
     "--sentinel takes HOST:PORT"),
])
def test_dsctl_sentinel_usage(args, message):
    r = dsctl("revoke", "token", "fa-1", "--recipient", "fa", *args)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
