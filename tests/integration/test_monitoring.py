"""monitoring/: the Prometheus alerting rules pass `promtool check
rules` and their unit tests (`promtool test rules`, each rule shown to
fire); the rules and the Grafana dashboard name only metrics a real
ds_metrics endpoint exports, and the dashboard shows every one."""

import json
import os
import re
import shutil
import subprocess

import yaml

from conftest import REPO
from test_metrics import scrape, start
from test_ratelimit import limited_policy, redis_conf

PROMTOOL = "/usr/bin/promtool"
MON = os.path.join(REPO, "monitoring")
RULES = os.path.join(MON, "ds-alerts.yml")
RULE_TESTS = os.path.join(MON, "ds-alerts.test.yml")
DASHBOARD = os.path.join(MON, "grafana-ds.json")

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring",
            "group_left", "group_right", "offset", "bool", "inf", "nan"}
IDENT = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')


def metric_names(expr):
    """The metric names a PromQL expression selects."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)       # strings
    e = re.sub(r'\{[^}]*\}', ' ', e)                   # label matchers
    e = re.sub(r'\[[^\]]*\]', ' ', e)                  # ranges
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*'
               r'\([^)]*\)', ' ', e)                   # label lists
    e = re.sub(r'\$\w+', ' ', e)                       # template variables
    names = set()
    for m in IDENT.finditer(e):
        name = m.group(0)
        if name.lower() in KEYWORDS:
            continue
        if re.match(r'\s*\(', e[m.end():]):           # a function
            continue
        if m.start() and (e[m.start() - 1].isdigit() or
                          e[m.start() - 1] == '.'):
            continue                                   # 5m, 1e3
        names.add(name)
    return names


def exported(text):
    """Sample names the exposition can hold: each TYPE's family, with a
    histogram's _bucket, _sum and _count."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
            else:
                names.add(name)
    return names


def dashboard_exprs(dash):
    out = []

    def walk(panels):
        for p in panels:
            out.extend(t["expr"] for t in p.get("targets", []))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return out


def template_metrics(dash):
    names = set()
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = re.match(r'label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)',
                         v["query"])
            assert m, v["query"]
            names.add(m.group(1))
    return names


def rule_exprs(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def test_metric_names_parser():
    assert metric_names('histogram_quantile(0.99, sum by (le) '
                        '(rate(a_bucket{x=~"$i",le!="1"}[5m])))') \
        == {"a_bucket"}
    assert metric_names('sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) '
                        '> 0.5 and on(instance) b offset 1h') \
        == {"a_sum", "a_count", "b"}
    assert metric_names('time() - c{instance="x"}') == {"c"}


def test_promtool_check_rules(tmp_path):
    r = subprocess.run([PROMTOOL, "check", "rules", RULES],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 8 rules found" in r.stdout

    # and it does reject a broken expression
    bad = tmp_path / "bad.yml"
    bad.write_text(open(RULES).read().replace(
        'ds_policy_expiring{within="7d"} > 0',
        'ds_policy_expiring{within="7d" > 0'))
    r = subprocess.run([PROMTOOL, "check", "rules", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_promtool_rule_unit_tests(tmp_path):
    r = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS],
                       capture_output=True, text=True, cwd=MON)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout

    # every alert of the file is exercised by the unit tests
    with open(RULE_TESTS) as f:
        tests = yaml.safe_load(f)
    tested = {a["alertname"] for t in tests["tests"]
              for a in t["alert_rule_test"] if a["exp_alerts"]}
    with open(RULES) as f:
        alerts = {r["alert"] for g in yaml.safe_load(f)["groups"]
                  for r in g["rules"]}
    assert tested == alerts

    # a rule that no longer fires fails the tests
    shutil.copy(RULE_TESTS, tmp_path / "t.yml")
    (tmp_path / "ds-alerts.yml").write_text(open(RULES).read().replace(
        'ds_redis_connections{state="down"} > 0',
        'ds_redis_connections{state="down"} > 5'))
    r = subprocess.run([PROMTOOL, "test", "rules", "t.yml"],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "DsRedisDown" in r.stdout + r.stderr


def test_dashboard_expressions_parse(tmp_path):
    """promtool parses every panel's query (as a recording rule)."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = dashboard_exprs(dash)
    assert len(exprs) >= 20
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "ds:dashboard_%d" % i, "expr": e}
        for i, e in enumerate(exprs)]}]}
    p = tmp_path / "dash-rules.yml"
    p.write_text(yaml.safe_dump(rules))
    r = subprocess.run([PROMTOOL, "check", "rules", str(p)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_names_are_exported(nginx, redis, tmp_path):
    from test_audit import audit_conf, write_key
    ng = start(nginx, workers=1, policy=limited_policy(
                   {"requests": 100, "per": "minute"}),
               http_extra=redis_conf(redis) + "\n" + audit_conf(
                   str(tmp_path / "audit.log"), write_key(tmp_path)))
    have = exported(scrape(ng).text)
    assert "ds_requests_total" in have
    assert "ds_gateway_latency_seconds_bucket" in have

    with open(DASHBOARD) as f:
        dash = json.load(f)
    used = set()
    for e in dashboard_exprs(dash):
        names = metric_names(e)
        assert names, e
        assert names <= have, (e, names - have)
        used |= names
    assert template_metrics(dash) <= have

    # the dashboard shows every family the endpoint exports
    families = {n for n in have if not n.endswith(("_sum", "_count"))}
    assert families <= used, families - used

    for e in rule_exprs(RULES):
        names = metric_names(e)
        assert names, e
        assert names <= have, (e, names - have)

    # the check does catch a name the endpoint does not export
    assert not metric_names('rate(ds_requests_totl[5m])') <= have
