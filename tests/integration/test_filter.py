"""List responses are filtered per recipient; what cannot be filtered
becomes a 502 and nothing of the upstream body leaks."""

import base64
import json

import pytest
import requests

from conftest import bearer, free_port, make_policy

P = "/delta-sharing/shares"


def get(ng, path, who="fraud", **kw):
    return requests.get(ng.url(path), headers=bearer(who), timeout=5, **kw)


def names(r):
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json().get("items", [])]


def test_list_shares_only_entitled(nginx, upstream):
    ng = nginx()
    assert names(get(ng, P)) == ["claims"]
    assert names(get(ng, P, who="dist")) == ["provider_directory"]
    # the upstream did see everything: filtering is the gateway's doing
    assert len(upstream.requests()) == 2


def test_paging_keeps_next_page_token(nginx):
    ng = nginx()
    seen, token, pages = [], None, 0
    while True:
        params = {"maxResults": 1}
        if token:
            params["pageToken"] = token
        r = get(ng, P, params=params)
        assert r.status_code == 200
        body = r.json()
        seen += [i["name"] for i in body.get("items", [])]
        token = body.get("nextPageToken")
        pages += 1
        assert pages < 20
        if not token:
            break
    # every upstream share was one page; only ours was shown
    assert pages >= 4
    assert seen == ["claims"]


def test_page_token_kept_verbatim(nginx, upstream):
    ng = nginx()
    r = get(ng, P, params={"maxResults": 1})
    tok = r.json()["nextPageToken"]
    direct = requests.get(upstream.url(P), params={"maxResults": 1},
                          headers={"Authorization": "Bearer "
                                   "upstream-secret-0123456789"}, timeout=5)
    assert tok == direct.json()["nextPageToken"]
    base64.urlsafe_b64decode(tok + "==")


def test_schemas_tables_all_tables(nginx):
    pol = make_policy()
    pol["recipients"][0]["grants"] = [
        {"share": "claims", "schema": "adjudicated",
         "table": "medical_claims"}]
    ng = nginx(policy=pol)
    assert names(get(ng, P + "/claims/schemas")) == ["adjudicated"]
    assert names(get(ng, P + "/claims/schemas/adjudicated/tables")) == [
        "medical_claims"]
    r = get(ng, P + "/claims/all-tables")
    assert names(r) == ["medical_claims"]
    assert r.json()["items"][0]["schema"] == "adjudicated"
    assert "pharmacy_claims" not in r.text and "prior_auth" not in r.text
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_wildcard_grant_shows_everything_of_the_share(nginx):
    ng = nginx()
    assert sorted(names(get(ng, P + "/claims/schemas"))) == [
        "adjudicated", "pending"]
    assert sorted(names(get(ng, P + "/claims/all-tables"))) == [
        "medical_claims", "pharmacy_claims", "prior_auth"]


@pytest.mark.parametrize("mode", ["not_json", "truncated"])
@pytest.mark.parametrize("path", [P, P + "/claims/schemas",
                                  P + "/claims/all-tables"])
def test_unfilterable_body_is_502(nginx, upstream, mode, path):
    ng = nginx(location_extra="add_header X-Reason $ds_reason always;")
    upstream.mode(list_body=mode)
    r = get(ng, path)
    assert r.status_code == 502
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["errorCode"] == "INTERNAL_ERROR"
    assert r.headers["X-Reason"] == "upstream_invalid"
    for leak in ("internal_finance", "provider_directory", "html", "claims"):
        assert leak not in r.text


def test_too_big_is_502(nginx):
    ng = nginx(location_extra="ds_list_max_size 64;")
    r = get(ng, P)
    assert r.status_code == 502
    assert "internal_finance" not in r.text


def test_content_encoded_list_is_502(nginx):
    # an upstream that compresses (Accept-Encoding was forwarded) cannot
    # be read by the filter: it must fail closed, not pass the body on
    port2 = free_port()
    http_extra = """
    server {
        listen 127.0.0.1:%d;
        location / {
            default_type application/json;
            add_header Content-Encoding gzip;
            return 200 '{"items":[{"name":"internal_finance"}]}';
        }
    }""" % port2
    location_extra = """
            location = /delta-sharing/shares {
                proxy_pass http://127.0.0.1:%d;
            }""" % port2
    ng = nginx(http_extra=http_extra, location_extra=location_extra)
    r = get(ng, P)
    assert r.status_code == 502
    assert "Content-Encoding" not in r.headers
    assert "internal_finance" not in r.text


def test_non_list_calls_pass_through(nginx):
    ng = nginx()
    r = get(ng, P + "/claims")
    assert r.status_code == 200
    assert r.json()["share"]["name"] == "claims"


def test_upstream_disconnect_leaks_nothing(nginx, upstream):
    ng = nginx()
    upstream.mode(list_body="disconnect")
    try:
        r = get(ng, P)
    except requests.exceptions.RequestException:
        return  # closed before anything was sent: nothing leaked
    assert r.status_code == 502
    assert "internal_finance" not in r.text
