"""Prometheus metrics (ds_metrics_zone, ds_metrics): counters equal the
requests sent, per recipient, decision and reason, across two workers and
across a reload; promtool accepts the exposition; a real prometheus
scrapes it and answers PromQL with the counts; the recipient cap holds
against many recipients and unknown tokens."""

import os
import re
import subprocess
import time

import pytest
import requests

from conftest import (PREFIX, REPO, bearer, free_port, iso, make_policy,
                      port_open, sha256_hex, stop_process, wait_for,
                      write_policy)
from test_disclosure import QUERY, expected, lines_of

SHARES = PREFIX + "/shares"
CLAIMS = PREFIX + "/shares/claims/schemas"
DIST = PREFIX + "/shares/provider_directory/schemas"
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def zone_conf(params=""):
    return "    ds_metrics_zone dsm 4m%s;" % (" " + params if params else "")


# a second listener with reuseport: the kernel spreads its connections
# over both workers; X-Pid says which one answered
def start(nginx, params="", workers=2, policy=None, http_extra=""):
    port2 = free_port()
    ng = nginx(policy=policy, workers=workers,
               http_extra=zone_conf(params) + "\n" + http_extra,
               server_extra="        listen 127.0.0.1:%d reuseport;\n"
                            "        add_header X-Pid $pid always;\n"
                            "        location = /metrics { ds_metrics; }\n"
                            % port2)
    ng.port2 = port2
    return ng


def spread(ng, path):
    return "http://127.0.0.1:%d%s" % (ng.port2, path)


def parse(text):
    """{(name, frozenset(labels)): float}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset((k, v) for k, v in LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def scrape(ng, url=None):
    r = requests.get(url or spread(ng, "/metrics"), timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r


def requests_by(samples, **want):
    """Sum of ds_requests_total over the samples matching want."""
    total = 0
    for (name, labels), v in samples.items():
        if name != "ds_requests_total":
            continue
        d = dict(labels)
        if all(d.get(k) == val for k, val in want.items()):
            total += v
    return total


def send_mix(ng, rounds):
    """rounds x: 3 allowed lists of fraud-analytics, 1 expired token,
    1 unknown token, 1 suspended recipient, 1 not-entitled call of the
    distribution partner; each on a new connection. Returns the pids."""
    pids = set()
    calls = [("fraud", SHARES, 200), ("fraud", CLAIMS, 200),
             ("fraud", CLAIMS, 200), ("expired", SHARES, 401),
             ("dst_never_issued_token_00000000000000000000000000", SHARES,
              401),
             ("suspended", SHARES, 403), ("dist", CLAIMS, 404)]
    for _ in range(rounds):
        for who, path, code in calls:
            r = requests.get(spread(ng, path), headers=bearer(who), timeout=5)
            assert r.status_code == code, (who, path, r.status_code)
            pids.add(r.headers["X-Pid"])
    return pids


def expect_mix(ng, rounds, extra=0):
    """The counters of send_mix (and extra requests besides), read
    through scrapes of either worker."""
    want = [
        (dict(recipient="fraud-analytics", decision="allow",
              reason="allowed"), 3 * rounds),
        (dict(recipient="fraud-analytics", operation="list_schemas",
              decision="allow"), 2 * rounds),
        (dict(recipient="fraud-analytics", decision="deny",
              reason="token_expired"), rounds),
        (dict(recipient="(none)", decision="deny", reason="token_unknown"),
         rounds),
        (dict(recipient="suspended-co", decision="deny",
              reason="recipient_suspended"), rounds),
        (dict(recipient="distribution-partner", operation="list_schemas",
              decision="deny", reason="not_entitled"), rounds),
        (dict(), 7 * rounds + extra),
    ]

    def right():
        s = parse(scrape(ng).text)
        return s if all(requests_by(s, **w) == n for w, n in want) else None

    try:
        return wait_for(right, timeout=5, what="counters")
    except TimeoutError:
        s = parse(scrape(ng).text)
        pytest.fail("counters: %r" % [(w, n, requests_by(s, **w))
                                      for w, n in want])


def test_counts_across_workers_and_reload(nginx):
    ng = start(nginx)
    assert len(ng.worker_pids()) == 2

    pids = send_mix(ng, 6)
    assert len(pids) == 2, "both workers must have counted"

    s = expect_mix(ng, 6)
    # every worker's scrape shows the same table
    seen = set()
    for _ in range(20):
        r = scrape(ng)
        seen.add(r.headers["X-Pid"])
        assert requests_by(parse(r.text)) == 42
    assert len(seen) == 2

    assert s[("ds_config_reloads_total", frozenset())] == 0
    assert s[("ds_response_bytes_total",
              frozenset({("recipient", "fraud-analytics")}))] > 0
    assert s[("ds_gateway_latency_seconds_count", frozenset())] == 42
    # the proxied ones (the 18 allowed) have an upstream time
    assert s[("ds_upstream_latency_seconds_count", frozenset())] == 18

    # a policy change and a reload: the zone and its counters carry on
    pol = make_policy()
    pol["recipients"][1]["grants"].append(
        {"share": "claims", "schema": "*", "table": "*"})
    write_policy(ng.policy_path, pol)
    old = [v for (n, l), v in s.items() if n == "ds_policy_info"]
    old_version = [dict(l)["version"] for (n, l) in s if n == "ds_policy_info"]
    assert old == [1]
    assert ng.reload()

    calls = 0
    for _ in range(4):
        r = requests.get(spread(ng, CLAIMS), headers=bearer("dist"),
                         timeout=5)
        assert r.status_code == 200
        calls += 1

    s = expect_mix(ng, 6, extra=calls)
    assert requests_by(s, recipient="distribution-partner",
                       decision="allow") == calls
    assert requests_by(s, recipient="distribution-partner",
                       reason="not_entitled") == 6
    assert s[("ds_config_reloads_total", frozenset())] == 1
    new_version = [dict(l)["version"] for (n, l) in s if n == "ds_policy_info"]
    assert len(new_version) == 1 and new_version != old_version
    assert re.fullmatch(r"[0-9a-f]{64}", new_version[0])


def test_promtool_accepts(nginx, tmp_path):
    ng = start(nginx, workers=1)
    send_mix(ng, 1)
    text = scrape(ng).text
    assert "# TYPE ds_requests_total counter" in text
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr

    # and rejects what is not the format: the check can fail
    p = subprocess.run([PROMTOOL, "check", "metrics"],
                       input=text.replace("# TYPE ds_requests_total counter",
                                          "# TYPE ds_requests_total bogus"),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0


def test_prometheus_scrapes_and_answers(nginx, tmp_path):
    ng = start(nginx, workers=2)
    pids = send_mix(ng, 5)
    assert len(pids) == 2

    port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: ngx_ds\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % ng.port2)
    log = open(str(tmp_path / "prometheus.log"), "w")
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file=%s" % conf,
         "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_open(port), timeout=30, what="prometheus")

        def ready():
            try:
                return requests.get("http://127.0.0.1:%d/-/ready" % port,
                                    timeout=5).status_code == 200
            except requests.RequestException:
                return False

        # the port opens before the TSDB is up: queries answer 503 then
        wait_for(ready, timeout=60, what="prometheus to be ready")

        def query(q):
            r = requests.get("http://127.0.0.1:%d/api/v1/query" % port,
                             params={"query": q}, timeout=5)
            assert r.status_code == 200, r.text
            res = r.json()["data"]["result"]
            return {tuple(sorted(x["metric"].items())): float(x["value"][1])
                    for x in res}

        q_allow = ('sum(ds_requests_total{recipient="fraud-analytics",'
                   'decision="allow"})')
        got = wait_for(lambda: query(q_allow) or None, timeout=60,
                       what="a scrape")
        assert list(got.values()) == [15.0]

        by_reason = query('sum by (reason) (ds_requests_total'
                          '{decision="deny"})')
        assert by_reason == {(("reason", "token_expired"),): 5.0,
                             (("reason", "token_unknown"),): 5.0,
                             (("reason", "recipient_suspended"),): 5.0,
                             (("reason", "not_entitled"),): 5.0}
        assert list(query('up{job="ngx_ds"}').values()) == [1.0]
    finally:
        stop_process(prom)
        log.close()


def many_recipients(n):
    now = time.time()
    rs = []
    for i in range(n):
        rs.append({"id": "partner-%02d" % i, "status": "active",
                   "tokens": [{"id": "t-%02d" % i,
                               "sha256": sha256_hex(token(i))}],
                   "grants": [{"share": "claims", "schema": "*",
                               "table": "*"}]})
    # one token that ends in 3 days, one in 20 (the expiring gauges)
    rs[0]["tokens"][0]["expires"] = iso(now + 3 * 86400)
    rs[1]["tokens"][0]["expires"] = iso(now + 20 * 86400)
    return make_policy(rs)


def token(i):
    return "dst_partner_token_%032d" % i


def test_label_explosion_stays_capped(nginx):
    ng = start(nginx, params="max_recipients=3", workers=2,
               policy=many_recipients(20))
    for i in range(20):
        r = requests.get(spread(ng, SHARES), headers=bearer(token(i)),
                         timeout=5)
        assert r.status_code == 200
    for i in range(50):
        r = requests.get(spread(ng, SHARES),
                         headers=bearer("dst_made_up_%040d" % i), timeout=5)
        assert r.status_code == 401

    def settled():
        s = parse(scrape(ng).text)
        return s if requests_by(s) == 70 else None
    s = wait_for(settled, timeout=5, what="70 requests counted")

    recipients = {dict(l).get("recipient") for (n, l) in s
                  if n == "ds_requests_total"}
    named = recipients - {"(other)", "(none)"}
    assert len(named) == 3, recipients
    assert requests_by(s, recipient="(other)") == 17
    assert requests_by(s, recipient="(none)", reason="token_unknown") == 50
    assert s[("ds_metrics_recipients", frozenset())] == 3
    assert s[("ds_metrics_recipients_max", frozenset())] == 3
    # every family together stays within the cap too
    assert {dict(l).get("recipient") for (n, l) in s} - {None} <= recipients

    assert s[("ds_policy_recipients", frozenset())] == 20
    assert s[("ds_policy_expiring",
              frozenset({("kind", "token"), ("within", "7d")}))] == 1
    assert s[("ds_policy_expiring",
              frozenset({("kind", "token"), ("within", "30d")}))] == 2


def test_per_recipient_off(nginx):
    ng = start(nginx, params="per_recipient=off", workers=1)
    send_mix(ng, 2)

    def settled():
        s = parse(scrape(ng).text)
        return s if requests_by(s) == 14 else None
    s = wait_for(settled, timeout=5, what="14 requests counted")
    assert all("recipient" not in dict(l) for (n, l) in s), s.keys()
    assert requests_by(s, decision="allow", reason="allowed") == 6
    assert requests_by(s, decision="deny", reason="token_unknown") == 2


def test_disclosure_counted(nginx, upstream):
    upstream.mode(query_files=12)
    ng = start(nginx, workers=1)
    r = requests.post(spread(ng, QUERY), json={}, headers=bearer("fraud"),
                      timeout=30)
    assert r.status_code == 200, r.text
    exp = expected(lines_of(r.content))
    assert exp["files"] == 12

    def settled():
        s = parse(scrape(ng).text)
        rec = frozenset({("recipient", "fraud-analytics")})
        return s if s.get(("ds_disclosed_answers_total", rec)) == 1 else None
    s = wait_for(settled, timeout=5, what="the disclosure counted")
    rec = frozenset({("recipient", "fraud-analytics")})
    assert s[("ds_disclosed_files_total", rec)] == 12
    assert s[("ds_disclosed_bytes_total", rec)] == exp["bytes"]
    assert s[("ds_disclosed_records_total", rec)] == exp["records"]
    assert requests_by(s, operation="query_table", decision="allow") == 1


def test_ratelimit_outcomes(nginx, redis):
    from test_ratelimit import limited_policy, redis_conf
    ng = start(nginx, workers=1,
               policy=limited_policy({"requests": 3, "per": "minute"}),
               http_extra=redis_conf(redis, failure_mode="open"))
    codes = [requests.get(spread(ng, SHARES), headers=bearer("fraud"),
                          timeout=5).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]

    redis.stop()
    r = requests.get(spread(ng, SHARES), headers=bearer("fraud"), timeout=10)
    assert r.status_code == 200       # open mode: let by, and counted so

    rec = ("recipient", "fraud-analytics")

    def settled():
        s = parse(scrape(ng).text)
        key = ("ds_ratelimit_total", frozenset({rec, ("outcome",
                                                      "fail_open")}))
        return s if s.get(key) == 1 else None
    s = wait_for(settled, timeout=10, what="fail_open counted")
    assert s[("ds_ratelimit_total",
              frozenset({rec, ("outcome", "allowed")}))] == 3
    assert s[("ds_ratelimit_total",
              frozenset({rec, ("outcome", "limited")}))] == 2
    assert requests_by(s, decision="deny", reason="rate_limited") == 2


def test_audit_records_counted(nginx, tmp_path):
    from test_audit import audit_conf, write_key
    log = str(tmp_path / "audit.log")
    ng = start(nginx, workers=2,
               http_extra=audit_conf(log, write_key(tmp_path)))
    send_mix(ng, 2)

    def lines():
        return sum(1 for _ in open(log)) if os.path.exists(log) else 0

    def settled():
        s = parse(scrape(ng).text)
        # the chain-start records of both workers, and one per request
        n = s[("ds_audit_records_total", frozenset())]
        return s if n >= 14 and n == lines() else None
    s = wait_for(settled, timeout=10, what="audit records counted")
    assert s[("ds_audit_records_lost_total", frozenset())] == 0


def test_zone_too_small_refused(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False, http_extra="    ds_metrics_zone dsm 256k "
                                       "max_recipients=1000;")
    rc, out = ng.test_config()
    assert rc != 0
    assert 'ds_metrics_zone "dsm" is too small for max_recipients=1000' in out

    ng = nginx(start=False, http_extra="    ds_metrics_zone dsm 4m "
                                       "per_recipient=maybe;")
    rc, out = ng.test_config()
    assert rc != 0
    assert 'invalid parameter "per_recipient=maybe"' in out

