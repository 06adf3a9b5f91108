"""Alerts (docs/metrics.md#alerts) through real nginx with two workers:
a spike of one recipient writes exactly one audit record of type
"alert" (native and OCSF), which `dsctl audit verify` accepts, and sets
ds_alert_active; with "suspend" its requests are denied with
anomaly_suspended until the suspension lapses, then allowed again; the
rate limiter failing open raises an alert; `dsctl policy check` refuses
bad rules with the file, the JSON path and the reason."""

import json
import os
import time

import requests

from conftest import bearer, dsctl, make_policy, wait_for, write_policy
from test_audit import audit_conf, records, verify, write_key
from test_metrics import SHARES, parse, requests_by, scrape, spread, start
from test_ratelimit import limited_policy, redis_conf

FRAUD = "fraud-analytics"


def with_alerts(rules, policy=None):
    pol = policy or make_policy()
    for r in pol["recipients"]:
        if r["id"] == FRAUD:
            r["alerts"] = rules
    return pol


def clear_of_boundary(window_s, margin=5):
    """Tumbling windows: start a burst well inside one window."""
    left = window_s - time.time() % window_s
    if left < margin:
        time.sleep(left + 0.2)


def alerts_in(log):
    recs = records(log) if os.path.exists(log) else []
    return [r for r in recs
            if r.get("type") == "alert"
            or r.get("unmapped", {}).get("dsgw", {}).get("type") == "alert"]


def alert_of(rec):
    return rec["alert"] if "alert" in rec else rec["unmapped"]["dsgw"]["alert"]


def gateway(nginx, tmp_path, rules, fmt="native", policy=None, extra="",
            zone=""):
    log = str(tmp_path / "audit.log")
    key = write_key(tmp_path)
    params = "format=ocsf" if fmt == "ocsf" else ""
    ng = start(nginx, zone, workers=2, policy=with_alerts(rules, policy),
               http_extra=audit_conf(log, key, params) + "\n" + extra)
    return ng, log, key


def get(ng, who="fraud"):
    return requests.get(spread(ng, SHARES), headers=bearer(who), timeout=10)


def check_spike(nginx, tmp_path, fmt):
    ng, log, key = gateway(nginx, tmp_path, [
        {"metric": "requests", "window": "1h", "above": 20}], fmt=fmt)
    clear_of_boundary(3600)
    pids = set()
    # 30: the 21st breaches; no split of 30 has two windows over 20
    for _ in range(30):
        r = get(ng)
        assert r.status_code == 200          # "alert": nothing denied
        pids.add(r.headers["X-Pid"])
    # the other recipient's requests raise nothing
    for _ in range(8):
        assert get(ng, "dist").status_code in (200, 404)
    assert len(pids) == 2, "both workers must have counted"

    def one():
        a = alerts_in(log)
        return a if a else None
    got = wait_for(one, timeout=10, what="the alert record")
    time.sleep(0.3)                           # nothing else comes
    got = alerts_in(log)
    assert len(got) == 1, got
    rec = got[0]
    al = alert_of(rec)
    assert al["metric"] == "requests"
    assert al["action"] == "alert"
    assert al["window"] == "1h" and al["window_ms"] == 3600000
    assert al["observed"] == 21 and al["threshold"] == 20
    assert al["baseline"] is None and al["until_ms"] is None
    if fmt == "native":
        assert rec["recipient"] == FRAUD
        assert rec["request_id"]
        # the request that breached it is in the log with the same id
        reqs = [x for x in records(log) if x.get("type") == "request"
                and x.get("request_id") == rec["request_id"]]
        assert len(reqs) == 1 and reqs[0]["recipient"] == FRAUD
    else:
        assert rec["actor"]["user"]["uid"] == FRAUD
        assert rec["api"]["operation"] == "dsAccessAlert"
        assert rec["severity_id"] == 3

    r = verify([log], key, "--open-ok")
    assert r.returncode == 0, r.stdout + r.stderr

    s = parse(scrape(ng).text)
    lab = frozenset({("recipient", FRAUD), ("metric", "requests")})
    assert s[("ds_alert_active", lab)] == 1
    assert s[("ds_alerts_total", lab)] == 1
    assert ("ds_alert_active", frozenset({("recipient",
                                           "distribution-partner"),
                                          ("metric", "requests")})) not in s


def test_spike_one_alert_native(nginx, tmp_path):
    check_spike(nginx, tmp_path, "native")


def test_spike_one_alert_ocsf(nginx, tmp_path):
    check_spike(nginx, tmp_path, "ocsf")


def test_suspend_until_it_lapses(nginx, tmp_path):
    ng, log, key = gateway(nginx, tmp_path, [
        {"metric": "requests", "window": "1h", "above": 3,
         "action": "suspend", "suspend_for": "2s"}])
    clear_of_boundary(3600)

    # the 4th breaches at its log phase: it is answered, the next are not
    for _ in range(4):
        assert get(ng).status_code == 200
    rec = wait_for(lambda: (alerts_in(log) or [None])[0], timeout=10,
                   what="the alert record")
    al = alert_of(rec)
    assert al["action"] == "suspend" and al["observed"] == 4
    until = al["until_ms"]
    assert until > rec["time_ms"]

    denied = 0
    seen = set()
    while True:
        r = get(ng)
        seen.add(r.headers["X-Pid"])
        if r.status_code == 200:
            break
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["errorCode"] == "PERMISSION_DENIED"
        assert "unusual activity" in body["message"]
        denied += 1
        assert denied < 200, "the suspension never lapsed"
        time.sleep(0.05)
    # allowed again only once it lapsed (the gateway's clock is ours)
    assert time.time() * 1000 >= until - 5
    assert denied >= 1
    assert len(seen) == 2, "both workers must refuse"

    # other recipients were never suspended
    assert get(ng, "dist").status_code in (200, 404)

    def settled():
        s = parse(scrape(ng).text)
        return s if requests_by(s, recipient=FRAUD,
                                reason="anomaly_suspended") == denied \
            else None
    wait_for(settled, timeout=10, what="denials counted")
    # the denials did not extend it or raise another alert
    assert len(alerts_in(log)) == 1
    assert get(ng).status_code == 200

    r = verify([log], key, "--open-ok")
    assert r.returncode == 0, r.stdout + r.stderr


def test_suspension_survives_reload(nginx, tmp_path):
    ng, log, key = gateway(nginx, tmp_path, [
        {"metric": "denials", "window": "1h", "above": 2,
         "action": "suspend", "suspend_for": "10m"}])
    clear_of_boundary(3600)
    # not entitled: denials of a known recipient
    path = "/delta-sharing/shares/provider_directory/schemas"
    for _ in range(3):
        r = requests.get(spread(ng, path), headers=bearer("fraud"),
                         timeout=10)
        assert r.status_code == 404
    wait_for(lambda: alerts_in(log), timeout=10, what="the alert record")
    assert get(ng).status_code == 403

    # the zone (and the suspension in it) outlives a reload
    assert ng.reload() is True
    r = get(ng)
    assert r.status_code == 403 and "unusual activity" in r.json()["message"]
    s = parse(scrape(ng).text)
    assert s[("ds_config_reloads_total", frozenset())] == 1
    assert s[("ds_alert_active", frozenset({("recipient", FRAUD),
                                            ("metric", "denials")}))] == 1


def test_shared_slot_not_evaluated(nginx, tmp_path):
    ng, log, key = gateway(nginx, tmp_path, [
        {"metric": "requests", "window": "1h", "above": 1,
         "action": "suspend", "suspend_for": "10m"}],
        zone="max_recipients=1")
    clear_of_boundary(3600)
    # the one named slot goes to the distribution partner
    assert get(ng, "dist").status_code in (200, 404)
    wait_for(lambda: requests_by(parse(scrape(ng).text),
                                 recipient="distribution-partner") == 1,
             timeout=10, what="dist counted")
    for _ in range(5):
        assert get(ng).status_code == 200     # counted under (other)
    s = parse(scrape(ng).text)
    assert requests_by(s, recipient="(other)") == 5
    assert alerts_in(log) == []


def test_fail_open_raises_an_alert(nginx, redis, tmp_path):
    pol = limited_policy({"requests": 100, "per": "minute"})
    ng, log, key = gateway(nginx, tmp_path, [], policy=pol,
                           extra=redis_conf(redis, failure_mode="open"))
    assert get(ng).status_code == 200
    assert alerts_in(log) == []

    redis.stop()
    clear_of_boundary(60)
    for _ in range(3):
        assert get(ng).status_code == 200     # let by without the limiter

    rec = wait_for(lambda: (alerts_in(log) or [None])[0], timeout=10,
                   what="the fail-open alert")
    time.sleep(0.3)
    got = alerts_in(log)
    # rate-limited: one a minute per recipient, whichever worker saw it
    assert len(got) == 1, got
    al = alert_of(got[0])
    assert al["metric"] == "fail_open" and al["window"] == "1m"
    assert got[0]["recipient"] == FRAUD

    s = parse(scrape(ng).text)
    assert s[("ds_alert_active", frozenset({("recipient", FRAUD),
                                            ("metric", "fail_open")}))] == 1


def test_policy_check_refuses_bad_rules(tmp_path):
    pol = with_alerts([{"metric": "requests", "window": "1m",
                        "above": 5, "action": "suspend"}])
    p = write_policy(tmp_path / "bad.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert r.stderr == ("%s: $.recipients[0].alerts[0]: missing required "
                        "field \"suspend_for\"\n" % p)

    pol = with_alerts([{"metric": "logins", "window": "1m", "above": 5}])
    p = write_policy(tmp_path / "bad2.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert "$.recipients[0].alerts[0].metric: must be" in r.stderr

    pol = with_alerts([{"metric": "denials", "window": "10s",
                        "factor": 4, "min": 20, "action": "suspend",
                        "suspend_for": "15m"}])
    p = write_policy(tmp_path / "ok.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 0, r.stderr


def test_nginx_refuses_bad_rules(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False, policy=with_alerts(
        [{"metric": "requests", "window": "0s", "above": 5}]))
    rc, out = ng.test_config()
    assert rc != 0
    assert "$.recipients[0].alerts[0].window: must be whole seconds" in out
