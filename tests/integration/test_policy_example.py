"""policies/example through real nginx: the demo `make run` serves
behaves as docs/policy.md says, with the demo tokens' cleartext from
policies/demo-tokens.json. Denied calls never reach the
upstream."""

import json
import os

import requests

from conftest import REPO

EXAMPLE = os.path.join(REPO, "policies", "example")
BASE = "/delta-sharing"
MEDICAL = BASE + "/shares/claims/schemas/adjudicated/tables/medical_claims"
PROVIDERS = BASE + "/shares/provider_directory/schemas/public/tables/providers"


def demo_tokens():
    with open(os.path.join(EXAMPLE, "..", "demo-tokens.json")) as f:
        return {t["token_id"]: t["token"] for t in json.load(f)["tokens"]}


def call(ng, token, path, method="GET", purpose=None, **kw):
    h = {"Authorization": "Bearer " + token}
    if purpose:
        h["X-DS-Purpose"] = purpose
    return requests.request(method, ng.url(path), headers=h, timeout=10, **kw)


def test_example_policy_allows_and_denies(nginx, upstream):
    tok = demo_tokens()
    ng = nginx(policy_path=EXAMPLE)

    # the fraud vendor sees only claims, and only with a purpose
    r = call(ng, tok["fa-2026a"], BASE + "/shares", purpose="FRAUD")
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["items"]] == ["claims"]

    r = call(ng, tok["fa-2026b"], MEDICAL + "/metadata", purpose="HPAYMT")
    assert r.status_code == 200, r.text

    upstream.reset()
    denied = [
        (call(ng, tok["fa-2026a"], MEDICAL + "/metadata"), 403,
         "PERMISSION_DENIED"),
        (call(ng, tok["fa-2026a"], MEDICAL + "/metadata", purpose="TREAT"),
         403, "PERMISSION_DENIED"),
        (call(ng, tok["fa-2026a"], BASE + "/shares/internal_finance",
              purpose="FRAUD"), 404, "RESOURCE_DOES_NOT_EXIST"),
        # prior_auth: version and metadata only
        (call(ng, tok["fa-2026a"], BASE + "/shares/claims/schemas/pending/"
              "tables/prior_auth/query", method="POST", purpose="FRAUD",
              json={}), 403, "PERMISSION_DENIED"),
        # the suspended recipient
        (call(ng, tok["la-2025"], BASE + "/shares"), 403,
         "PERMISSION_DENIED"),
        # the distribution partner: no change data feed, no claims
        (call(ng, tok["dp-2026"], PROVIDERS + "/changes?startingVersion=0"),
         403, "PERMISSION_DENIED"),
        (call(ng, tok["dp-2026"], BASE + "/shares/claims"), 404,
         "RESOURCE_DOES_NOT_EXIST"),
    ]
    for r, status, code in denied:
        assert r.status_code == status, (r.request.url, r.text)
        body = r.json()
        assert body["errorCode"] == code
        assert "internal_finance" not in body["message"]
        assert "claims" not in body["message"]
    assert upstream.requests() == []

    # the partner's token is bound to HOPERAT: no header needed
    r = call(ng, tok["dp-2026"], BASE + "/shares/provider_directory/all-tables")
    assert r.status_code == 200, r.text
    assert {t["share"] for t in r.json()["items"]} == {"provider_directory"}
    r = call(ng, tok["dp-2026"], PROVIDERS + "/query", method="POST",
             purpose="TREAT", json={})
    assert r.status_code == 200, r.text
    r = call(ng, tok["dp-2026"], PROVIDERS + "/query", method="POST",
             purpose="FRAUD", json={})
    assert r.status_code == 403

    # what reached the upstream carries the upstream's credential only
    seen = upstream.requests()
    assert seen
    for req in seen:
        hdrs = {k.lower(): v for k, v in req["headers"].items()}
        auth = hdrs["authorization"]
        assert auth.startswith("Bearer ")
        assert not any(t in auth for t in tok.values())
