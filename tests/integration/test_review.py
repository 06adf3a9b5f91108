"""Recertification (issue #18): review_by on recipients and grants ends
access through real nginx (review_overdue), dsctl policy expiring lists
the reviews due; token_max_lifetime for tokens without not_before."""

import json
import time

import requests

from conftest import PREFIX, bearer, dsctl, iso, make_policy, write_policy

TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
DIR = PREFIX + "/shares/provider_directory"
SHOW = """
            add_header X-Test-Reason $ds_reason always;"""


def review_policy(now):
    pol = make_policy()
    fa, dp = pol["recipients"][0], pol["recipients"][1]
    # the claims grant was due for review an hour ago; a second grant on
    # the same table is reviewed in 10 days
    fa["grants"][0]["review_by"] = iso(now - 3600)
    fa["grants"].append({"share": "claims", "schema": "pending",
                         "review_by": iso(now + 10 * 86400)})
    dp["review_by"] = iso(now - 60)
    return pol


def test_review_overdue_through_nginx(nginx, upstream):
    now = time.time()
    ng = nginx(policy=review_policy(now), location_extra=SHOW)
    upstream.reset()

    r = requests.get(ng.url(TABLE + "/version"), headers=bearer("fraud"),
                     timeout=5)
    assert r.status_code == 403
    assert r.headers["X-Test-Reason"] == "review_overdue"
    assert r.json()["errorCode"] == "PERMISSION_DENIED"
    assert "access review" in r.json()["message"]

    # the grant under review in 10 days still allows
    r = requests.get(ng.url(PREFIX + "/shares/claims/schemas/pending/tables/"
                            "prior_auth/version"),
                     headers=bearer("fraud"), timeout=5)
    assert r.status_code == 200, r.text

    # a recipient past its review: everything, list_shares included
    for path in (PREFIX + "/shares", DIR):
        r = requests.get(ng.url(path), headers=bearer("dist"), timeout=5)
        assert r.status_code == 403
        assert r.headers["X-Test-Reason"] == "review_overdue"

    # nothing denied reached the upstream
    assert len(upstream.requests()) == 1


def test_expiring_lists_reviews(tmp_path):
    now = time.time()
    p = write_policy(tmp_path / "p.json", review_policy(now))
    r = dsctl("policy", "expiring", p, "--within", "30d")
    assert r.returncode == 0, r.stderr
    reviews = [" ".join(l.split()[1:]) for l in r.stdout.splitlines()
               if " review " in l]
    assert reviews == [
        "ended review fraud-analytics grant claims/*/*",
        "ended review distribution-partner recipient",
        "in 9d review fraud-analytics grant claims/pending/*"]

    r = dsctl("policy", "expiring", p, "--within", "30d", "--format", "json")
    items = [i for i in json.loads(r.stdout)["items"]
             if i["kind"] == "review"]
    assert [(i["recipient"], i["id"], i["ended"]) for i in items] == [
        ("fraud-analytics", "grant claims/*/*", True),
        ("distribution-partner", "recipient", True),
        ("fraud-analytics", "grant claims/pending/*", False)]

    # a week: the review in 10 days is not due yet
    r = dsctl("policy", "expiring", p, "--within", "7d", "--format", "json")
    assert "grant claims/pending/*" not in r.stdout


def test_review_by_bad_timestamp_fails_check(tmp_path):
    pol = make_policy()
    pol["recipients"][0]["review_by"] = "Q3"
    p = write_policy(tmp_path / "p.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert ('%s: $.recipients[0].review_by: bad timestamp "Q3"' % p) \
        in r.stderr


def test_max_lifetime_for_tokens_without_not_before(tmp_path):
    now = time.time()
    pol = make_policy()
    pol["token_max_lifetime"] = "30d"
    fa = pol["recipients"][0]
    fa["tokens"] = [{"id": "fa-1", "sha256": "ab" * 32,
                     "expires": iso(now + 20 * 86400)}]
    for r in pol["recipients"][1:]:
        r["tokens"][0]["expires"] = iso(now + 86400)
    p = write_policy(tmp_path / "p.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 0, r.stderr

    # valid from now (no not_before) and for longer than 30 days: refused
    fa["tokens"][0]["expires"] = iso(now + 40 * 86400)
    p = write_policy(tmp_path / "p.json", pol)
    r = dsctl("policy", "check", p)
    assert r.returncode == 1
    assert ("%s: $.recipients[0].tokens[0].expires: " % p) in r.stderr
    assert ('is more than token_max_lifetime "30d" (in %s) from now, and '
            'without not_before the token is valid from now' % p) \
        in r.stderr


def test_json_schema_knows_review_by():
    import os
    import pytest
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.load(open(os.path.join(os.path.dirname(__file__), "..",
                                         "..", "policies",
                                         "ds-policy.schema.json")))
    v = jsonschema.Draft202012Validator(schema, format_checker=
                                        jsonschema.FormatChecker())
    v.validate(review_policy(time.time()))
    bad = make_policy()
    bad["recipients"][0]["grants"][0]["review_by"] = 5
    assert not v.is_valid(bad)
