"""Fleet-wide rate limits through a real redis-server: exact GCRA counts,
headers on proxied and denied responses, recovery, two nginx instances
sharing one limit, share scope, the NOSCRIPT reload and charging once
across an internal redirect."""

import os
import subprocess
import time

import requests

from conftest import (PREFIX, TOKENS, bearer, free_port, make_policy,
                      redis_tls_params, wait_for)

SHARES = PREFIX + "/shares"
CLAIMS = PREFIX + "/shares/claims/schemas"


def limited_policy(rate_limit, recipient="fraud-analytics", grants=None):
    """The default test policy with `rate_limit` on one recipient."""
    p = make_policy()
    for r in p["recipients"]:
        if r["id"] == recipient:
            r["rate_limit"] = rate_limit
            if grants is not None:
                r["grants"] = grants
    return p


def redis_conf(redis, extra="", failure_mode=None, command_timeout=None,
               connect_timeout=None):
    """http_extra for an nginx that uses `redis`, with $ds_ratelimit
    exposed on every response as X-DS-RateLimit."""
    lines = ["ds_redis 127.0.0.1:%d%s%s;" % (redis.port, extra,
                                             redis_tls_params()),
             "add_header X-DS-RateLimit $ds_ratelimit always;"]
    if failure_mode:
        lines.append("ds_redis_failure_mode %s;" % failure_mode)
    if command_timeout:
        lines.append("ds_redis_command_timeout %s;" % command_timeout)
    if connect_timeout:
        lines.append("ds_redis_connect_timeout %s;" % connect_timeout)
    return "\n".join("    " + l for l in lines)


def get(ng, path=SHARES, who="fraud", timeout=10):
    return requests.get(ng.url(path), headers=bearer(who), timeout=timeout)


def test_exact_limit_then_429(nginx, redis, upstream):
    # 5 per minute with a burst of 2: 7 at once, then one every 12 s
    ng = nginx(policy=limited_policy({"requests": 5, "per": "minute",
                                      "burst": 2}),
               http_extra=redis_conf(redis))

    remaining = []
    for i in range(7):
        r = get(ng)
        assert r.status_code == 200, (i, r.status_code, r.text)
        # pushed in the access phase, they survive proxying
        assert r.headers["RateLimit-Limit"] == "7"
        assert r.headers["X-DS-RateLimit"] == "allowed"
        assert "Retry-After" not in r.headers
        assert 1 <= int(r.headers["RateLimit-Reset"]) <= 84
        remaining.append(int(r.headers["RateLimit-Remaining"]))
    assert remaining == [6, 5, 4, 3, 2, 1, 0]

    r = get(ng)
    assert r.status_code == 429
    body = r.json()
    assert body["errorCode"] == "RESOURCE_EXHAUSTED"
    assert TOKENS["fraud"] not in r.text
    assert r.headers["X-DS-RateLimit"] == "limited"
    assert r.headers["RateLimit-Limit"] == "7"
    assert r.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(r.headers["Retry-After"]) <= 12
    assert int(r.headers["RateLimit-Reset"]) >= int(r.headers["Retry-After"])

    # denied requests never reached the upstream
    assert len(upstream.requests()) == 7

    # another recipient has its own budget (and no limit at all here)
    r = get(ng, PREFIX + "/shares", who="dist")
    assert r.status_code == 200
    assert "RateLimit-Limit" not in r.headers
    assert r.headers["X-DS-RateLimit"] == "none"

    # the TAT lives under the documented key, with an expiry
    assert int(redis.cli("PTTL", "ds:{fraud-analytics}:rl")) > 0


def test_429_message_says_how_long_to_wait(nginx, redis):
    # Delta Sharing clients never read Retry-After (python retries for
    # ~100 s, Spark ~7 s, then show the message): the body says it
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=redis_conf(redis))
    assert get(ng).status_code == 200
    r = get(ng)
    assert r.status_code == 429
    wait = int(r.headers["Retry-After"])
    assert 2 <= wait <= 60
    assert r.json()["message"] == \
        "Rate limit exceeded; retry in %d seconds." % wait

    # under a second left: "1 second", never "0 seconds"
    ng2 = nginx(policy=limited_policy({"requests": 4, "per": "second"},
                                      recipient="distribution-partner"),
                http_extra=redis_conf(redis))
    codes = [get(ng2, who="dist") for _ in range(5)]
    assert [c.status_code for c in codes] == [200] * 4 + [429]
    assert codes[4].headers["Retry-After"] == "1"
    assert codes[4].json()["message"] == \
        "Rate limit exceeded; retry in 1 second."
    assert TOKENS["dist"] not in codes[4].text


def test_recovers_after_the_interval(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 2, "per": "second"}),
               http_extra=redis_conf(redis))

    assert [get(ng).status_code for _ in range(2)] == [200, 200]
    r = get(ng)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"

    # one request is earned back every 500 ms
    wait_for(lambda: get(ng).status_code == 200, timeout=5, interval=0.05,
             what="the limit to let a request through again")


def test_two_instances_share_one_limit(nginx, redis):
    policy = limited_policy({"requests": 4, "per": "minute"})
    a = nginx(policy=policy, http_extra=redis_conf(redis))
    b = nginx(policy=policy, http_extra=redis_conf(redis))

    codes = [get(ng).status_code for ng in (a, b, a, b, a, b)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_share_scope(nginx, redis):
    grants = [{"share": "claims", "schema": "*", "table": "*",
               "operations": ["read"]},
              {"share": "provider_directory", "schema": "*", "table": "*",
               "operations": ["read"]}]
    ng = nginx(policy=limited_policy({"requests": 2, "per": "minute",
                                      "scope": "share"}, grants=grants),
               http_extra=redis_conf(redis))

    claims = PREFIX + "/shares/claims/schemas"
    claims_upper = PREFIX + "/shares/CLAIMS/schemas"
    providers = PREFIX + "/shares/provider_directory/schemas"

    assert get(ng, claims).status_code == 200
    # share names are case-insensitive: same bucket
    assert get(ng, claims_upper).status_code != 429
    assert get(ng, claims).status_code == 429
    # another share has its own bucket
    assert get(ng, providers).status_code == 200
    assert get(ng, providers).status_code == 200
    assert get(ng, providers).status_code == 429

    keys = set(redis.cli("KEYS", "ds:*:rl*").split())
    assert keys == {"ds:{fraud-analytics}:rl:claims",
                    "ds:{fraud-analytics}:rl:provider_directory"}


def test_script_cache_flushed(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 3, "per": "minute"}),
               http_extra=redis_conf(redis))

    assert get(ng).status_code == 200
    # EVALSHA answers NOSCRIPT: one SCRIPT LOAD, the EVALSHA again
    assert redis.cli("SCRIPT", "FLUSH") == "OK"
    r = get(ng)
    assert r.status_code == 200
    assert r.headers["RateLimit-Remaining"] == "1"
    assert get(ng).status_code == 200
    assert get(ng).status_code == 429


def test_prefix_and_db(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=redis_conf(redis, ' db=3 "prefix={gw1}:"'))

    assert get(ng).status_code == 200
    assert get(ng).status_code == 429

    keys = subprocess.run(redis.cli_argv() + ["-n", "3",
                           "KEYS", "*"], capture_output=True,
                          text=True).stdout.split()
    assert keys == ["{gw1}:{fraud-analytics}:rl"]
    assert redis.cli("DBSIZE") == "0"


def test_rate_limit_off_in_a_location(nginx, redis):
    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=redis_conf(redis),
               location_extra="ds_rate_limit off;")

    for _ in range(3):
        r = get(ng)
        assert r.status_code == 200
        assert "RateLimit-Limit" not in r.headers
    assert redis.cli("KEYS", "ds:*:rl*") == ""


def test_internal_redirect_charges_once(nginx, redis, upstream):
    # the proxy fails (nothing listens), error_page redirects to a named
    # location that enforces again: the access handler runs twice, the
    # limit must be charged once
    dead = free_port()
    server_extra = """
        location /alt/ {
            ds_enforce on;
            ds_prefix /alt;
            proxy_pass http://127.0.0.1:%d;
            error_page 502 = @fallback;
        }
        location @fallback {
            ds_enforce on;
            ds_prefix /alt;
            proxy_pass http://127.0.0.1:%d;
        }
""" % (dead, upstream.port)
    ng = nginx(policy=limited_policy({"requests": 3, "per": "minute"}),
               http_extra=redis_conf(redis), server_extra=server_extra)

    codes = []
    for _ in range(3):
        r = get(ng, "/alt/shares")
        codes.append(r.status_code)
    assert 429 not in codes, codes
    assert len(upstream.requests()) == 3

    r = get(ng, "/alt/shares")
    assert r.status_code == 429
    assert r.json()["errorCode"] == "RESOURCE_EXHAUSTED"


def test_hostname_without_resolver_rejected_at_config_test(nginx, request):
    # a name is resolved by nginx's resolver, never by a blocking lookup:
    # without a resolver there is nothing to resolve it with
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False,
               http_extra="    ds_redis localhost:6379;")
    rc, out = ng.test_config()
    assert rc != 0
    assert 'needs a "resolver" in the http block' in out


def test_bad_parameters_rejected(nginx, tmp_path, request):
    request.node.allow_log = ("[emerg]",)
    for extra, message in (
            ("ds_redis 127.0.0.1:0;", "invalid port"),
            ("ds_redis 127.0.0.1:6379 db=x;", "invalid database"),
            ("ds_redis 127.0.0.1:6379 prefix=a*b;", "invalid key prefix"),
            ("ds_redis unix:relative.sock;", "must be absolute"),
            ("ds_redis 127.0.0.1:6379 password_file=%s;"
             % (tmp_path / "missing"), "cannot open password_file"),
            ("ds_redis 127.0.0.1:6379 bogus=1;", "invalid parameter")):
        ng = nginx(start=False, http_extra="    " + extra)
        rc, out = ng.test_config()
        assert rc != 0, extra
        assert message in out, (extra, out)


def test_password_file(nginx, redis, tmp_path):
    secret = "s3cret-redis-pass"
    assert redis.cli("CONFIG", "SET", "requirepass", secret) == "OK"
    redis.cli = (lambda orig: lambda *a: orig("--no-auth-warning", "-a",
                                               secret, *a))(redis.cli)
    pw = tmp_path / "redis.pw"
    pw.write_text(secret + "\n")

    ng = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
               http_extra=redis_conf(redis, " password_file=%s" % pw))
    assert get(ng).status_code == 200
    assert get(ng).status_code == 429

    # a wrong password: no answer from Redis, closed mode answers 503
    bad = tmp_path / "bad.pw"
    bad.write_text("wrong\n")
    ng2 = nginx(policy=limited_policy({"requests": 1, "per": "minute"}),
                http_extra=redis_conf(redis, " password_file=%s" % bad))
    r = get(ng2)
    assert r.status_code == 503
    assert r.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"

    for ng_ in (ng, ng2):
        assert secret not in ng_.log_since(0)
        assert "wrong" not in ng_.log_since(0).replace("wrong number", "")


def test_query_with_body_while_parked(nginx, redis, upstream):
    # the body arrives while the request waits for Redis; the proxy must
    # still forward it whole once the request resumes
    query = PREFIX + ("/shares/claims/schemas/adjudicated/tables/"
                      "medical_claims/query")
    ng = nginx(policy=limited_policy({"requests": 2, "per": "minute"}),
               http_extra=redis_conf(redis))
    for remaining in ("1", "0"):
        r = requests.post(ng.url(query), headers=bearer("fraud"),
                          json={"limitHint": 10, "predicateHints": []},
                          timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Remaining"] == remaining
        assert r.text.splitlines()[0].startswith('{"protocol"')
    seen = [q for q in upstream.requests() if q.get("path", "").endswith(
        "/query")]
    assert len(seen) == 2

    r = requests.post(ng.url(query), headers=bearer("fraud"), json={},
                      timeout=10)
    assert r.status_code == 429
