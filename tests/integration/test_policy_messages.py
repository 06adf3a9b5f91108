"""What a partner is told and what a grant implies, through the real
nginx + module and the real dsctl: purpose denials that say how to
comply (issue #12 item 10), the async query poll that query_table
implies (item 13), and a purpose header nginx would drop (item 15)."""

import json

import pytest
import requests

from conftest import PREFIX, TOKENS, bearer, dsctl, make_policy, sha256_hex

SHARES = PREFIX + "/shares"
SCHEMAS = PREFIX + "/shares/claims/schemas"
TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
OTHER = PREFIX + "/shares/claims/schemas/adjudicated/tables/pharmacy_claims"

BOUND = "dst_bound_to_treat_token_00000000000000000000001"


def purpose_policy(operations=("read",), bound=None):
    """fraud-analytics may read claims for FRAUD only; `bound` adds a
    token bound to that purpose."""
    pol = make_policy()
    fa = pol["recipients"][0]
    fa["grants"] = [{"share": "claims", "schema": "*", "table": "*",
                     "operations": list(operations),
                     "purposes": ["FRAUD"]}]
    if bound:
        fa["tokens"].append({"id": "fa-bound", "sha256": sha256_hex(BOUND),
                             "purpose": bound})
    return pol


def get(ng, path, token="fraud", **headers):
    h = dict(bearer(token))
    h.update(headers)
    return requests.get(ng.url(path), headers=h, timeout=5)


def assert_no_secret(r):
    for tok in list(TOKENS.values()) + [BOUND]:
        assert tok not in r.text


# ------------------------------------------------ item 10: purpose help

def test_purpose_missing_says_how_to_comply(nginx, upstream):
    ng = nginx(policy=purpose_policy())
    # the share is listed without any purpose ...
    r = get(ng, SHARES)
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["items"]] == ["claims"]

    # ... and its schemas then need one: the message says so and how
    for path in (SCHEMAS, TABLE + "/metadata"):
        r = get(ng, path)
        assert r.status_code == 403, r.text
        err = r.json()
        assert err["errorCode"] == "PERMISSION_DENIED"
        msg = err["message"]
        assert "shares are listed without one" in msg, msg
        assert "in the x-ds-purpose request header" in msg.lower(), msg
        assert "token bound to a purpose" in msg, msg
        assert "cannot set headers" in msg, msg
        # never a name, never the token
        for name in ("claims", "adjudicated", "medical_claims"):
            assert name not in msg
        assert_no_secret(r)
    assert upstream.requests() == [
        q for q in upstream.requests() if q["path"] == SHARES]

    # following the advice works
    assert get(ng, SCHEMAS, **{"X-DS-Purpose": "FRAUD"}).status_code == 200


def test_purpose_message_names_the_configured_header(nginx):
    ng = nginx(policy=purpose_policy(),
               location_extra="            ds_purpose_header "
                              "X-Purpose-Of-Use;")
    r = get(ng, SCHEMAS)
    assert r.status_code == 403
    msg = r.json()["message"]
    assert "in the x-purpose-of-use request header" in msg.lower(), msg
    assert "x-ds-purpose" not in msg.lower()

    r = get(ng, SCHEMAS, **{"X-Purpose-Of-Use": "FRAUD DETECTION"})
    assert r.status_code == 400
    msg = r.json()["message"]
    assert msg.lower().startswith("the x-purpose-of-use header is not a "
                                  "valid purpose code"), msg
    assert "DETECTION" not in msg

    r = get(ng, SCHEMAS, **{"X-Purpose-Of-Use": "TREAT"})
    assert r.status_code == 403
    msg = r.json()["message"]
    assert msg.lower() == ("purpose treat, sent in the x-purpose-of-use "
                           "header, is not permitted for this data"), msg

    assert get(ng, SCHEMAS, **{"X-Purpose-Of-Use": "FRAUD"}).status_code \
        == 200


def test_bound_purpose_denied_points_to_the_header(nginx):
    ng = nginx(policy=purpose_policy(bound="TREAT"))
    r = get(ng, SCHEMAS, token=BOUND)
    assert r.status_code == 403
    msg = r.json()["message"]
    assert msg.startswith("Purpose TREAT, which your token is bound to, is "
                          "not permitted for this data"), msg
    assert "x-ds-purpose request header" in msg.lower()
    assert_no_secret(r)
    assert get(ng, SCHEMAS, token=BOUND,
               **{"X-DS-Purpose": "FRAUD"}).status_code == 200


def test_token_minted_with_purpose_needs_no_header(nginx, tmp_path):
    # the message's other way: `dsctl token new --purpose`, as a client
    # that cannot set headers would use it
    out = tmp_path / "p.share"
    r = dsctl("token", "new", "--recipient", "fraud-analytics",
              "--token-id", "fa-minted", "--ttl", "30d", "--purpose",
              "FRAUD", "--profile-out", str(out))
    assert r.returncode == 0, r.stderr
    pol = purpose_policy()
    pol["recipients"][0]["tokens"].append(json.loads(r.stdout))
    ng = nginx(policy=pol)
    token = json.loads(out.read_text())["bearerToken"]
    assert get(ng, SCHEMAS, token=token).status_code == 200
    assert get(ng, SCHEMAS).status_code == 403


# --------------------------------------- item 13: the async query's poll

QUERY_HEADERS = {"delta-sharing-capabilities": "asyncquery=true",
                 "Content-Type": "application/json"}


def post(ng, path, body, token="fraud"):
    h = dict(bearer(token))
    h.update(QUERY_HEADERS)
    return requests.post(ng.url(path), headers=h, data=json.dumps(body),
                         timeout=5)


def status_line(r):
    return json.loads(r.text.splitlines()[0])


def async_policy(operations):
    pol = make_policy()
    pol["recipients"][0]["grants"] = [
        {"share": "claims", "schema": "adjudicated",
         "table": "medical_claims", "operations": list(operations)},
        {"share": "claims", "schema": "adjudicated",
         "table": "pharmacy_claims", "operations": ["table_metadata"]}]
    return pol


def test_query_table_grant_allows_its_async_poll(nginx, upstream):
    ng = nginx(policy=async_policy(["query_table"]))
    r = post(ng, TABLE + "/query", {"idempotencyKey": "k-1"})
    assert r.status_code == 200, r.text
    qid = status_line(r)["queryStatus"]["queryId"]

    # pending, then the result: both polls reach the upstream
    poll = TABLE + "/queries/" + qid
    r = post(ng, poll, {})
    assert r.status_code == 200, r.text
    assert status_line(r)["queryStatus"]["status"] == "pending"
    r = post(ng, poll, {})
    assert r.status_code == 200, r.text
    assert "protocol" in status_line(r)
    assert r.headers["Delta-Table-Version"] == "12"
    assert [q["path"] for q in upstream.requests()] == [
        TABLE + "/query", poll, poll]


def test_poll_not_implied_beyond_query_table(nginx, upstream):
    ng = nginx(policy=async_policy(["query_table"]))
    # another table's poll: that grant allows only metadata
    r = post(ng, OTHER + "/queries/q-1", {})
    assert r.status_code == 403, r.text
    assert r.json()["errorCode"] == "PERMISSION_DENIED"
    # no grant for the table at all
    r = post(ng, PREFIX + "/shares/claims/schemas/pending/tables/"
             "prior_auth/queries/q-1", {})
    assert r.status_code == 404
    # changes do not start async queries
    ng2 = nginx(policy=async_policy(["query_changes"]))
    assert post(ng2, TABLE + "/queries/q-1", {}).status_code == 403
    assert upstream.requests() == []


def test_dsctl_explain_agrees_on_the_poll(tmp_path):
    p = tmp_path / "policy.json"
    p.write_text(json.dumps(async_policy(["query_table"])))
    r = dsctl("policy", "explain", str(p), "--token-id", "fa-1", "POST",
              TABLE + "/queries/q-1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "query_poll" in r.stdout


# ---------------------------------- item 15: a header nginx would drop

def test_purpose_header_with_underscore_refused(nginx, request):
    request.node.allow_log = ("ds_purpose_header",)
    ng = nginx(policy=purpose_policy(), start=False,
               location_extra="            ds_purpose_header X_DS_Purpose;")
    rc, out = ng.test_config()
    assert rc != 0, out
    assert ('ds_purpose_header "x_ds_purpose" in location '
            '"/delta-sharing/" has "_" in its name') in out, out
    assert '"underscores_in_headers on"' in out


@pytest.mark.parametrize("setting", ["underscores_in_headers on;",
                                     "ignore_invalid_headers off;"])
def test_purpose_header_with_underscore_when_nginx_keeps_it(nginx, setting):
    # either setting makes nginx pass such headers on: accepted, and
    # the header really declares the purpose
    ng = nginx(policy=purpose_policy(), server_extra="        " + setting,
               location_extra="            ds_purpose_header X_DS_Purpose;")
    assert get(ng, SCHEMAS, **{"X_DS_Purpose": "FRAUD"}).status_code == 200
    r = get(ng, SCHEMAS)
    assert r.status_code == 403
    assert "x_ds_purpose request header" in r.json()["message"].lower()

