"""The nginx-driven Redis transport (issue #16): an nginx peer
connection that writes the core-formatted commands and feeds the bytes
it reads into hiredis' reply reader. Many requests in flight at once
share the one pipelined connection of a worker (more than the reply
queue's initial 64 slots), replies are matched to requests in order, and
a connection Redis drops under load is rebuilt without losing a reply's
owner."""

import concurrent.futures
import threading

from conftest import wait_for
from test_ratelimit import get, limited_policy, redis_conf


def burst(ng, n, who="fraud"):
    """n requests released together; their status codes."""
    gate = threading.Barrier(n)

    def one(_):
        gate.wait(timeout=30)
        r = get(ng, who=who, timeout=30)
        return r.status_code, r.headers.get("X-DS-RateLimit")

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_many_requests_in_flight_get_exact_limits(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 100, "per": "hour"}),
               http_extra=redis_conf(redis, command_timeout="5s"))
    got = burst(ng, 160)
    assert sorted(set(got)) == [(200, "allowed"), (429, "limited")], got
    assert got.count((200, "allowed")) == 100
    assert got.count((429, "limited")) == 60
    # one connection per worker carried all of them
    stats = redis.cli("INFO", "commandstats")
    evalsha = [l for l in stats.splitlines() if l.startswith(
        "cmdstat_evalsha:")]
    assert evalsha and "calls=160," in evalsha[0], stats
    assert "connected_clients:2" in redis.cli("INFO", "clients")


def test_connection_killed_under_load_recovers(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 100000, "per": "hour"}),
               http_extra=redis_conf(redis, command_timeout="5s"))
    stop = threading.Event()
    seen = []

    def load():
        while not stop.is_set():
            r = get(ng)
            seen.append(r.headers.get("X-DS-RateLimit"))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: seen.count("allowed") >= 50, timeout=20,
                 what="traffic")
        for _ in range(3):
            redis.cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            n = len(seen)
            wait_for(lambda: seen[n:].count("allowed") >= 20, timeout=20,
                     what="the limiter back after the kill")
    finally:
        stop.set()
        for t in threads:
            t.join()
    # every answer was a real one: allowed, or the failure mode for the
    # requests on the wire when the connection died
    assert set(seen) <= {"allowed", "unavailable"}, set(seen)
    assert get(ng).headers["X-DS-RateLimit"] == "allowed"
