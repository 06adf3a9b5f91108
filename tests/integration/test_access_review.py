"""dsctl access review over the audit log a real gateway wrote: per
recipient, grant and token, the calls in the window and what was never
used (issue #18's recertification evidence)."""

import json
import time

import requests

from conftest import TOKENS, bearer, dsctl, iso, make_policy
from test_audit import METADATA, NOT_ENTITLED, SHARES, write_key


def gateway(nginx, tmp_path):
    policy = make_policy()
    # a second grant nobody uses: the least-privilege candidate
    policy["recipients"][0]["grants"].append(
        {"share": "claims_archive", "schema": "*", "table": "*",
         "operations": ["read"]})
    log = str(tmp_path / "audit.log")
    key = write_key(tmp_path)
    ng = nginx(policy=policy, http_extra="    ds_audit_key %s;\n"
               "    ds_audit_log %s;" % (key, log))
    return ng, log


def calls(ng):
    s = requests.Session()
    for _ in range(3):
        assert s.get(ng.url(METADATA), headers=bearer("fraud")) \
            .status_code == 200
    assert s.get(ng.url(NOT_ENTITLED), headers=bearer("fraud")) \
        .status_code in (403, 404)
    assert s.get(ng.url(SHARES), headers=bearer("fraud")).status_code == 200
    assert s.get(ng.url(SHARES)).status_code == 401
    s.close()


def test_access_review_text_and_json(nginx, tmp_path):
    ng, log = gateway(nginx, tmp_path)
    calls(ng)
    ng.stop()

    r = dsctl("access", "review", ng.policy_path, log, "--since", "1d")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "6 record(s) in the window, 1 of callers not in the policy" \
        in out, out
    assert "recipient fraud-analytics: 5 call(s) (4 allowed, 1 denied)" \
        in out, out
    assert "grant 0 claims/*/*: 3 call(s)" in out, out
    assert ("grant 1 claims_archive/*/*: never used -- least-privilege "
            "candidate") in out, out
    assert "token fa-1: 5 call(s)" in out
    assert "token fa-expired: never used" in out
    assert "recipient distribution-partner: never used" in out
    assert "never used: 2 recipient(s), 3 grant(s), 3 token(s)" in out, out
    # no secret reaches the report
    for tok in TOKENS.values():
        assert tok not in out

    r = dsctl("access", "review", ng.policy_path, log, "--since", "1d",
              "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    fa = next(x for x in doc["recipients"] if x["id"] == "fraud-analytics")
    assert (fa["calls"], fa["allowed"], fa["denied"]) == (5, 4, 1)
    assert [g["calls"] for g in fa["grants"]] == [3, 0]
    assert fa["grants"][1]["last"] is None
    assert fa["last"].endswith("Z")
    assert doc["records_in_window"] == 6
    assert len(doc["recipients"]) == 3


def test_access_review_window(nginx, tmp_path):
    ng, log = gateway(nginx, tmp_path)
    calls(ng)
    ng.stop()

    # a window that ends before the calls: nothing was used
    r = dsctl("access", "review", ng.policy_path, log, "--since", "1d",
              "--at", iso(time.time() - 3600))
    assert r.returncode == 0, r.stderr
    assert "0 record(s) in the window" in r.stdout
    assert "never used: 3 recipient(s), 4 grant(s), 4 token(s)" \
        in r.stdout, r.stdout


def test_access_review_usage(tmp_path):
    assert dsctl("access", "review").returncode == 2
    assert dsctl("access", "frobnicate").returncode == 2
    assert dsctl("access", "review", str(tmp_path / "none.json"),
                 "x.log").returncode == 1
    r = dsctl("access", "review", str(tmp_path / "none.json"), "x.log",
              "--since", "soon")
    assert r.returncode == 2 and "--since soon" in r.stderr
