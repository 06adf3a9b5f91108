"""The limiter's script reaches Redis once per connection (SCRIPT LOAD
first on the wire), never with one EVAL per request: after a restart of
Redis with requests queued, after SCRIPT FLUSH under a live connection,
and quietly for requests whose client left; a refused SCRIPT LOAD fails
closed. Counted by Redis itself (INFO commandstats)."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import REDIS_TLS, bearer, port_open, wait_for
from test_ratelimit import SHARES, get, limited_policy, redis_conf

SLOW = float(os.environ.get("DS_NGINX_SLOW", "1") or 1)


def cmdstats(redis):
    """{command: calls} from INFO commandstats ("script|load" on Redis 7,
    "script" before)."""
    calls = {}
    for line in redis.cli("INFO", "commandstats").splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, rest = line[len("cmdstat_"):].partition(":")
        fields = dict(kv.split("=", 1) for kv in rest.split(","))
        calls[name] = int(fields["calls"])
    return calls


def script_loads(stats):
    return stats.get("script|load", stats.get("script", 0))


def nginx_connections(redis):
    # every client but the redis-cli asking
    return len(redis.cli("CLIENT", "LIST").splitlines()) - 1


def concurrent_gets(ng, n):
    """Start n requests at once; returns (threads, responses)."""
    out = []
    lock = threading.Lock()

    def one():
        r = get(ng, timeout=20)
        with lock:
            out.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, out


def restart_paused(redis):
    """A fresh, empty Redis on the same port that accepts connections
    (the kernel completes them) but runs nothing until resumed."""
    redis.stop()
    redis.proc = subprocess.Popen(
        redis.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: port_open(redis.port), interval=0.001,
             what="redis listening")
    os.kill(redis.proc.pid, signal.SIGSTOP)
    redis.paused = True


@pytest.mark.skipif(REDIS_TLS, reason="a paused Redis cannot finish a TLS "
                    "handshake: requests wait at most the connect timeout")
def test_restart_with_requests_queued_loads_once_per_connection(nginx,
                                                                 redis):
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=redis_conf(redis, command_timeout="10s"),
               workers=2)
    assert get(ng).status_code == 200

    # a failover to an empty Redis: each worker reconnects (backoff is
    # at most 500 ms) and queues its setup while Redis is stopped
    restart_paused(redis)
    time.sleep(1.5 * SLOW)
    threads, responses = concurrent_gets(ng, 20)
    time.sleep(0.5 * SLOW)
    assert all(t.is_alive() for t in threads)
    redis.resume()
    for t in threads:
        t.join(20)

    assert [r.status_code for r in responses] == [200] * 20
    assert all(r.headers["X-DS-RateLimit"] == "allowed" for r in responses)
    assert sorted(int(r.headers["RateLimit-Remaining"])
                  for r in responses) == list(range(980, 1000))

    stats = cmdstats(redis)
    # the script text went once per connection, never with EVAL
    assert stats.get("eval", 0) == 0, stats
    assert script_loads(stats) == nginx_connections(redis) == 2, stats
    assert stats["evalsha"] == 20, stats


def test_script_flush_while_running_reloads_once(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 25, "per": "minute"}),
               http_extra=redis_conf(redis, command_timeout="10s"))
    assert get(ng).status_code == 200

    assert redis.cli("SCRIPT", "FLUSH") == "OK"
    assert redis.cli("CONFIG", "RESETSTAT") == "OK"
    # ten EVALSHAs on the wire before the first NOSCRIPT comes back
    redis.pause()
    threads, responses = concurrent_gets(ng, 10)
    time.sleep(0.5 * SLOW)
    redis.resume()
    for t in threads:
        t.join(20)

    assert [r.status_code for r in responses] == [200] * 10
    assert sorted(int(r.headers["RateLimit-Remaining"])
                  for r in responses) == list(range(14, 24))

    stats = cmdstats(redis)
    assert stats.get("eval", 0) == 0, stats
    assert script_loads(stats) == 1, stats

    # cached again: the next request needs no load
    r = get(ng)
    assert r.status_code == 200
    assert r.headers["RateLimit-Remaining"] == "13"
    assert script_loads(cmdstats(redis)) == 1
    assert "script cache of 127.0.0.1:%d flushed" % redis.port \
        in ng.log_since(0)


def test_noscript_for_a_client_gone_is_not_an_error(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 100, "per": "hour"}),
               http_extra=redis_conf(redis, command_timeout="10s"))
    assert get(ng).status_code == 200

    assert redis.cli("SCRIPT", "FLUSH") == "OK"
    assert redis.cli("CONFIG", "RESETSTAT") == "OK"
    mark = ng.log_size()
    redis.pause()
    socks = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", ng.port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
                   % (SHARES, bearer("fraud")["Authorization"])).encode())
        socks.append(s)
    time.sleep(0.3 * SLOW)
    for s in socks:
        s.close()
    wait_for(lambda: ng.log_since(mark).count("client prematurely closed")
             == 5, timeout=5, what="nginx to notice the clients left")

    # their NOSCRIPT replies arrive with nobody waiting for them
    redis.resume()
    wait_for(lambda: cmdstats(redis).get("evalsha", 0) >= 5, timeout=5,
             what="Redis to answer the abandoned commands")
    r = get(ng)
    assert r.status_code == 200
    # the script never ran for them: nothing was charged
    assert r.headers["RateLimit-Remaining"] == "98"

    log = ng.log_since(mark)
    assert "[error]" not in log, log
    assert "script failed" not in log
    stats = cmdstats(redis)
    assert stats.get("eval", 0) == 0, stats
    # loaded for the live request only
    assert script_loads(stats) == 1, stats


def test_script_load_refused_fails_closed_and_recovers(nginx, redis):
    # a Redis user without SCRIPT (ACL): nothing would ever find the
    # script, so the connection is refused like a bad AUTH, said once per
    # attempt, and comes back when the right is granted
    ng = nginx(policy=limited_policy({"requests": 1000, "per": "minute"}),
               http_extra=redis_conf(redis))
    assert get(ng).status_code == 200

    assert redis.cli("ACL", "SETUSER", "default", "-script") == "OK"
    mark = ng.log_size()
    redis.cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    wait_for(lambda: "SCRIPT LOAD on 127.0.0.1:%d failed: NOPERM"
             % redis.port in ng.log_since(mark), timeout=5,
             what="the refused SCRIPT LOAD in the log")
    r = get(ng)
    assert r.status_code == 503
    assert r.headers["X-DS-RateLimit"] == "unavailable"

    assert redis.cli("ACL", "SETUSER", "default", "+script") == "OK"
    wait_for(lambda: get(ng).headers["X-DS-RateLimit"] == "allowed",
             timeout=10, interval=0.1, what="the limiter to come back")
    assert cmdstats(redis).get("eval", 0) == 0
