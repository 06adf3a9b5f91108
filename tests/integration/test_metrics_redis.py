"""Redis and reload gauges of the metrics zone (docs/metrics.md): the
workers' connection state, commands in flight, timeouts and reconnects
as Redis goes away, stalls and comes back; a reload refused for its
policy counted where the running configuration's counters are."""

import requests

from conftest import Redis, bearer, write_policy, wait_for
from test_metrics import SHARES, parse, requests_by, scrape, spread, start
from test_ratelimit import limited_policy, redis_conf

LIMIT = {"requests": 1000, "per": "minute"}


def gauges(ng):
    s = parse(scrape(ng).text)
    return {
        "up": s[("ds_redis_connections", frozenset({("state", "up")}))],
        "down": s[("ds_redis_connections", frozenset({("state", "down")}))],
        "in_flight": s[("ds_redis_commands_in_flight", frozenset())],
        "timeouts": s[("ds_redis_command_timeouts_total", frozenset())],
        "reconnects": s[("ds_redis_reconnects_total", frozenset())],
    }


def allowed(ng):
    """Requests the limiter let through, having asked Redis."""
    s = parse(scrape(ng).text)
    return s.get(("ds_ratelimit_total",
                  frozenset({("recipient", "fraud-analytics"),
                             ("outcome", "allowed")})), 0)


def settle(ng, what, **want):
    def right():
        g = gauges(ng)
        return g if all(g[k] == v for k, v in want.items()) else None
    try:
        return wait_for(right, timeout=10, what=what)
    except TimeoutError:
        raise AssertionError("%s: %r, wanted %r" % (what, gauges(ng), want))


def test_redis_down_and_back(nginx, redis):
    ng = start(nginx, workers=2, policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, failure_mode="open"))
    g = settle(ng, "both workers connected", up=2, down=0)
    assert g["reconnects"] == 0

    for _ in range(6):
        r = requests.get(spread(ng, SHARES), headers=bearer("fraud"),
                         timeout=5)
        assert r.status_code == 200
    assert allowed(ng) == 6
    settle(ng, "replies read", in_flight=0)

    port = redis.port
    redis.stop()
    g = settle(ng, "both workers down", up=0, down=2)
    assert g["reconnects"] == 0

    back = Redis(redis.workdir, port=port)
    back.start()
    try:
        g = settle(ng, "both workers connected again", up=2, down=0)
        # each worker connected again once, at least
        assert g["reconnects"] >= 2
        r = requests.get(spread(ng, SHARES), headers=bearer("fraud"),
                         timeout=5)
        assert r.status_code == 200
        # the limiter answered again (not fail-open)
        wait_for(lambda: allowed(ng) == 7, timeout=10, what="allowed")
    finally:
        back.stop()


def test_redis_stalled_commands(nginx, redis):
    ng = start(nginx, workers=1, policy=limited_policy(LIMIT),
               http_extra=redis_conf(redis, failure_mode="open",
                                     command_timeout="200ms"))
    settle(ng, "connected", up=1, down=0)

    redis.pause()
    try:
        r = requests.get(spread(ng, SHARES), headers=bearer("fraud"),
                         timeout=10)
        assert r.status_code == 200          # open mode, after the timeout
        # the command is still queued on the stalled connection
        settle(ng, "one timed out, still in flight", timeouts=1,
               in_flight=1)
    finally:
        redis.resume()
    # its late reply is read and dropped
    settle(ng, "late reply read", in_flight=0, timeouts=1)


def test_refused_reload_counted(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = start(nginx, workers=1)
    r = requests.get(spread(ng, SHARES), headers=bearer("fraud"), timeout=5)
    assert r.status_code == 200

    def errors():
        s = parse(scrape(ng).text)
        return s, s[("ds_config_load_errors_total", frozenset())]

    s, n = errors()
    assert n == 0
    loaded = s[("ds_config_loaded_timestamp_seconds", frozenset())]

    good = open(ng.policy_path).read()
    with open(ng.policy_path, "w") as f:
        f.write('{"version": 1, "recipients": [{"id": ')
    assert ng.reload() is False

    s, n = errors()
    assert n == 1
    # the configuration in force and its counters are still there
    assert s[("ds_config_loaded_timestamp_seconds", frozenset())] == loaded
    assert requests_by(s, recipient="fraud-analytics", decision="allow") == 1

    with open(ng.policy_path, "w") as f:
        f.write(good)
    assert ng.reload() is True
    s, n = errors()
    assert n == 1
    assert s[("ds_config_reloads_total", frozenset())] == 1
