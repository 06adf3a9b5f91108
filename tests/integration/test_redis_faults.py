"""Redis down, never up, or paused (accepts, never answers): the failure
mode applies, no request waits longer than the configured timeouts, the
worker keeps serving other locations, and service recovers by itself."""

import os
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import REDIS_SERVER, bearer, wait_for
from test_ratelimit import SHARES, get, limited_policy, redis_conf

LIMIT = {"requests": 1000, "per": "minute"}

# time bounds stretch under valgrind (conftest's DS_NGINX_SLOW)
SLOW = float(os.environ.get("DS_NGINX_SLOW", "1") or 1)


def timed_get(ng, path=SHARES):
    t0 = time.monotonic()
    r = get(ng, path)
    return r, time.monotonic() - t0


def recovered(ng):
    r = get(ng)
    return r.status_code == 200 and r.headers["X-DS-RateLimit"] == "allowed"


def test_redis_stopped_open_mode(nginx, redis):
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, failure_mode="open",
                                     command_timeout="300ms",
                                     connect_timeout="500ms"))
    r = get(ng)
    assert r.status_code == 200
    assert r.headers["X-DS-RateLimit"] == "allowed"

    redis.stop()
    for _ in range(5):
        r, took = timed_get(ng)
        # open: the data keeps flowing, the audit sees "unavailable"
        assert r.status_code == 200
        assert r.headers["X-DS-RateLimit"] == "unavailable"
        assert "RateLimit-Limit" not in r.headers
        assert took < (0.3 + 0.5 + 1.0) * SLOW

    redis.start()
    wait_for(lambda: recovered(ng), timeout=10, interval=0.1,
             what="the limiter to come back")


def test_redis_stopped_closed_mode(nginx, redis):
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, failure_mode="closed",
                                     command_timeout="300ms",
                                     connect_timeout="500ms"))
    assert get(ng).status_code == 200

    redis.stop()
    for _ in range(5):
        r, took = timed_get(ng)
        assert r.status_code == 503
        assert r.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"
        assert r.headers["X-DS-RateLimit"] == "unavailable"
        assert r.headers["Retry-After"] == "1"
        assert took < (0.3 + 0.5 + 1.0) * SLOW

    redis.start()
    wait_for(lambda: recovered(ng), timeout=10, interval=0.1,
             what="the limiter to come back")


def test_closed_is_the_default_and_redis_never_up(nginx, redis):
    redis.stop()
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, connect_timeout="500ms"))
    r, took = timed_get(ng)
    assert r.status_code == 503
    assert took < (0.5 + 1.0) * SLOW
    # a location that does not enforce is untouched
    assert requests.get(ng.url("/plain"), timeout=5).status_code == 200

    redis.start()
    wait_for(lambda: recovered(ng), timeout=10, interval=0.1,
             what="the first connection")


def test_paused_redis_command_timeout(nginx, redis):
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, command_timeout="300ms"))
    assert get(ng).status_code == 200

    mark = ng.log_size()
    redis.pause()
    for _ in range(4):
        r, took = timed_get(ng)
        assert r.status_code == 503
        assert r.headers["X-DS-RateLimit"] == "unavailable"
        # the command timeout fired: about 300 ms, never a hang
        assert took < (2 * 0.3 + 0.4) * SLOW
    # commands keep timing out: the stuck connection is rebuilt
    assert "timed out in a row, reconnecting" in ng.log_since(mark)

    redis.resume()
    wait_for(lambda: recovered(ng), timeout=10, interval=0.1,
             what="the limiter after SIGCONT")


def test_worker_never_stalls_while_a_request_is_parked(nginx, redis):
    # one worker: if waiting for Redis blocked it, /plain could not answer
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, command_timeout="3s"))
    assert get(ng).status_code == 200

    redis.pause()
    result = {}

    def parked():
        result["response"] = get(ng)

    t = threading.Thread(target=parked)
    t.start()
    try:
        time.sleep(0.2)
        for _ in range(10):
            t0 = time.monotonic()
            r = requests.get(ng.url("/plain"), timeout=5)
            assert r.status_code == 200
            assert time.monotonic() - t0 < 1.0 * SLOW
        # the limited request is still waiting for its reply meanwhile
        assert t.is_alive()
    finally:
        t.join(10)
    assert result["response"].status_code == 503

    redis.resume()
    wait_for(lambda: recovered(ng), timeout=10, interval=0.1,
             what="the limiter after SIGCONT")


def test_reply_after_the_client_left(nginx, redis):
    # clients give up while their requests wait; the late replies must
    # find the requests gone and touch nothing (a crash fails teardown)
    ng = nginx(policy=limited_policy({"requests": 100, "per": "hour"}),
               http_extra=redis_conf(redis, command_timeout="5s"))
    assert get(ng).status_code == 200

    redis.pause()
    socks = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", ng.port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
                   % (SHARES, bearer("fraud")["Authorization"])).encode())
        socks.append(s)
    time.sleep(0.3)
    for s in socks:
        s.close()
    wait_for(lambda: ng.log_since(0).count("client prematurely closed") == 5,
             timeout=5, what="nginx to notice the clients left")

    redis.resume()
    wait_for(lambda: recovered(ng), timeout=10, interval=0.1,
             what="the limiter after SIGCONT")
    # Redis ran the abandoned commands when it woke: they were charged
    r = get(ng)
    assert r.status_code == 200
    assert int(r.headers["RateLimit-Remaining"]) <= 100 - 8


def test_many_requests_in_flight_stay_exact(nginx, redis):
    # 60 concurrent requests pipelined on the one connection, limit 25
    ng = nginx(policy=limited_policy({"requests": 25, "per": "minute"}),
               http_extra=redis_conf(redis))
    codes = []
    lock = threading.Lock()

    def one():
        c = get(ng).status_code
        with lock:
            codes.append(c)

    threads = [threading.Thread(target=one) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [200] * 25 + [429] * 35


def test_reload_keeps_limits_and_old_workers_exit(nginx, redis):
    if os.environ.get("DS_NGINX_SINGLE") == "1":
        pytest.skip("reload needs a master process")
    # the worker's connection and its (cancelable) timers must not hold
    # an old worker after a reload; the budget lives on in Redis
    ng = nginx(policy=limited_policy({"requests": 3, "per": "hour"}),
               http_extra=redis_conf(redis))
    assert get(ng).headers["RateLimit-Remaining"] == "2"
    assert ng.reload()
    assert get(ng).headers["RateLimit-Remaining"] == "1"

    # again while Redis is away: the reconnect timer is pending
    redis.stop()
    assert get(ng).status_code == 503
    assert ng.reload()
    redis.start()
    wait_for(lambda: get(ng).status_code == 429, timeout=10, interval=0.1,
             what="the new workers to reach Redis")


def test_unix_socket(nginx, tmp_path):
    sock = str(tmp_path / "redis.sock")
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--unixsocket", sock,
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock), timeout=5, what="the socket")
        ng = nginx(policy=limited_policy({"requests": 1, "per": "hour"}),
                   http_extra="    ds_redis unix:%s;\n"
                              "    add_header X-DS-RateLimit $ds_ratelimit "
                              "always;" % sock)
        assert get(ng).status_code == 200
        r = get(ng)
        assert r.status_code == 429
        assert r.headers["X-DS-RateLimit"] == "limited"
    finally:
        proc.kill()
        proc.wait()


def test_ipv6_literal_accepted(nginx):
    ng = nginx(start=False, http_extra="    ds_redis [::1]:6379;")
    rc, out = ng.test_config()
    assert rc == 0, out


def test_failure_mode_per_location(nginx, redis, upstream):
    # open for the http block, closed for the main location
    server_extra = """
        location /open/ {
            ds_enforce on;
            ds_prefix /open;
            proxy_pass http://127.0.0.1:%d;
        }
""" % upstream.port
    ng = nginx(policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, failure_mode="open"),
               server_extra=server_extra,
               location_extra="ds_redis_failure_mode closed;")
    redis.stop()
    r = get(ng)
    assert r.status_code == 503
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    r = get(ng, "/open/shares")
    assert r.status_code != 503
    assert r.headers["X-DS-RateLimit"] == "unavailable"
    # it reached the upstream: the limiter let it through
    assert any(q.get("path", "").startswith("/open/")
               for q in upstream.requests())


def test_connect_timeout(nginx, redis):
    # a listener whose accept queue is full drops SYNs: connect() hangs.
    # The connect timeout, not the longer command timeout, answers.
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)

        redis.port = port
        ng = nginx(policy=limited_policy(LIMIT),
                   http_extra=redis_conf(redis, connect_timeout="400ms",
                                         command_timeout="10s"))
        # the worker may be in its first attempt or backing off after it
        for _ in range(3):
            r, took = timed_get(ng)
            assert r.status_code == 503
            assert took < (0.4 + 1.0) * SLOW
        wait_for(lambda: "timed out after 400 ms" in ng.log_since(0),
                 timeout=5, what="the connect timeout in the log")
    finally:
        for s in fillers:
            s.close()
        lst.close()
