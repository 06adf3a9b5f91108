"""Recovery after a Redis outage (issue #16): the worker probes a Redis
that is down with cheap connect attempts, finds it again by itself
(with and without traffic), logs the outage once instead of once per
probe, and keeps the slow backoff for a Redis that answers but refuses.
No timing assertions: waits are bounded ("it did not hang"), counts are
orders of magnitude apart."""

import time

from conftest import wait_for
from test_ratelimit import get, limited_policy, redis_conf

LIMIT = {"requests": 1000, "per": "minute"}


def state(ng):
    return get(ng).headers.get("X-DS-RateLimit")


def test_recovers_without_traffic_and_logs_the_outage_once(nginx, redis):
    ng = nginx(policy=limited_policy(LIMIT), http_extra=redis_conf(redis))
    assert state(ng) == "allowed"

    mark = ng.log_size()
    redis.stop()
    # no request during the outage: only the worker's timer probes, a
    # hundred attempts or so in this second and a half
    time.sleep(1.5)
    redis.start()

    # the worker reconnects by itself: its connection shows up in Redis
    # (redis-cli is the other client)
    wait_for(lambda: "connected_clients:2" in redis.cli("INFO", "clients"),
             timeout=10, what="the worker to reconnect by itself")
    assert state(ng) == "allowed"

    log = ng.log_since(mark)
    failures = (log.count("cannot connect to")
                + log.count("connection to 127.0.0.1")
                + log.count("connect to 127.0.0.1:%d timed out" % redis.port))
    # logged once per outage (then every 10 s), not once per probe
    assert 1 <= failures <= 2, log
    assert "answers again after" in log
    attempts = int(log.split("answers again after")[1]
                   .split("down, ")[1].split(" connect attempts")[0])
    # probing really happened, well above the old 100 -> 500 ms backoff
    # (4 or 5 attempts in 1.5 s)
    assert attempts >= 20, log


def test_recovers_under_traffic(nginx, redis):
    ng = nginx(policy=limited_policy(LIMIT), http_extra=redis_conf(redis))
    assert state(ng) == "allowed"

    redis.stop()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert state(ng) == "unavailable"
    redis.start()
    wait_for(lambda: state(ng) == "allowed", timeout=10, interval=0.005,
             what="the limiter to come back under traffic")


def test_refused_auth_keeps_the_slow_backoff(nginx, redis, tmp_path):
    # Redis is up but refuses: reconnecting every 10 ms cannot help
    assert redis.cli("CONFIG", "SET", "requirepass", "right") == "OK"
    bad = tmp_path / "bad.pw"
    bad.write_text("Wr0ng-s3cret-Xq\n")
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, " password_file=%s" % bad))
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        assert get(ng).status_code == 503
    refusals = ng.log_since(0).count("AUTH on 127.0.0.1")
    # 100 ms doubling to 500 ms: a handful, where probing would be ~100
    assert 1 <= refusals <= 10
    assert "Wr0ng-s3cret-Xq" not in ng.log_since(0)
