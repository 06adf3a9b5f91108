"""Bearer-token authentication through real nginx."""

import time

import requests

from conftest import (TOKENS, bearer, iso, make_policy, sha256_hex,
                      write_policy, wait_for)

SHARE = "/delta-sharing/shares/claims"


def error(r):
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"errorCode", "message"}
    return body


def test_missing_token(nginx, upstream):
    ng = nginx()
    r = requests.get(ng.url(SHARE), timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="delta-sharing"'
    assert error(r)["errorCode"] == "UNAUTHENTICATED"
    assert upstream.requests() == []


def test_unknown_token(nginx, upstream):
    ng = nginx()
    r = requests.get(ng.url(SHARE), headers=bearer("no-such-token-123"),
                     timeout=5)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    body = error(r)
    assert body["errorCode"] == "UNAUTHENTICATED"
    assert "no-such-token-123" not in r.text
    assert upstream.requests() == []
    # never logged either (the error log runs at info level here)
    r = requests.get(ng.url(SHARE), headers=bearer("fraud"), timeout=5)
    assert r.status_code == 200
    log = ng.log_since(0)
    assert "ds: denied: token_unknown" in log
    assert "no-such-token-123" not in log
    assert TOKENS["fraud"] not in log


def test_expired_token(nginx, upstream):
    ng = nginx(location_extra='add_header X-Reason $ds_reason always;')
    r = requests.get(ng.url(SHARE), headers=bearer("expired"), timeout=5)
    assert r.status_code == 401
    assert r.headers["X-Reason"] == "token_expired"
    assert error(r)["errorCode"] == "UNAUTHENTICATED"
    assert TOKENS["expired"] not in r.text
    assert upstream.requests() == []


def test_non_bearer_scheme(nginx, upstream):
    ng = nginx(location_extra='add_header X-Reason $ds_reason always;')
    r = requests.get(ng.url(SHARE), timeout=5,
                     headers={"Authorization": "Basic " + TOKENS["fraud"]})
    assert r.status_code == 401
    assert r.headers["X-Reason"] == "token_malformed"
    assert TOKENS["fraud"] not in r.text
    assert upstream.requests() == []


def test_suspended_recipient(nginx, upstream):
    ng = nginx()
    r = requests.get(ng.url(SHARE), headers=bearer("suspended"), timeout=5)
    assert r.status_code == 403
    assert error(r)["errorCode"] == "PERMISSION_DENIED"
    assert upstream.requests() == []


def test_head_denied_has_no_body(nginx):
    ng = nginx()
    r = requests.head(ng.url(SHARE + "/schemas/adjudicated/tables/"
                             "medical_claims/version"), timeout=5)
    assert r.status_code == 401
    assert r.content == b""


def test_rotation_two_live_tokens_then_retire(nginx, upstream):
    pol = make_policy()
    pol["recipients"][0]["tokens"].append(
        {"id": "fa-2", "sha256": sha256_hex(TOKENS["fraud2"])})
    ng = nginx(policy=pol,
               location_extra='add_header X-Token $ds_token_id always;')
    for name, tid in (("fraud", "fa-1"), ("fraud2", "fa-2")):
        r = requests.get(ng.url(SHARE), headers=bearer(name), timeout=5)
        assert r.status_code == 200
        assert r.headers["X-Token"] == tid

    pol["recipients"][0]["tokens"] = [
        t for t in pol["recipients"][0]["tokens"] if t["id"] != "fa-1"]
    write_policy(ng.policy_path, pol)
    assert ng.reload()

    r = requests.get(ng.url(SHARE), headers=bearer("fraud"), timeout=5)
    assert r.status_code == 401
    r = requests.get(ng.url(SHARE), headers=bearer("fraud2"), timeout=5)
    assert r.status_code == 200


def test_expiry_at_given_time(nginx):
    pol = make_policy()
    expires = time.time() + 3
    pol["recipients"][0]["tokens"].append(
        {"id": "fa-soon", "sha256": sha256_hex(TOKENS["fraud2"]),
         "expires": iso(expires)})
    ng = nginx(policy=pol,
               location_extra='add_header X-Reason $ds_reason always;')
    r = requests.get(ng.url(SHARE), headers=bearer("fraud2"), timeout=5)
    assert r.status_code == 200

    def rejected():
        r = requests.get(ng.url(SHARE), headers=bearer("fraud2"), timeout=5)
        # a Response is falsy for 4xx: hand back a list
        return [r] if r.status_code == 401 else None

    r, = wait_for(rejected, timeout=15, interval=0.25, what="token expiry")
    assert r.headers["X-Reason"] == "token_expired"
    # the other token is untouched
    r = requests.get(ng.url(SHARE), headers=bearer("fraud"), timeout=5)
    assert r.status_code == 200


def test_satisfy_any_is_refused(nginx, upstream, request):
    request.node.allow_log = ('cannot be used with "satisfy any"',)
    # under "satisfy any" another access module's NGX_OK (allow 127.0.0.1,
    # a Lua handler, a module loaded after ngx_ds) skips every other
    # check: such a location fails nginx -t
    ng = nginx(location_extra="satisfy any; allow 127.0.0.1; deny all;",
               start=False)
    rc, out = ng.test_config()
    assert rc != 0
    assert '"ds_enforce on" cannot be used with "satisfy any"' in out
    assert 'location "/delta-sharing/"' in out


def test_satisfy_all_with_other_access_modules(nginx, upstream):
    # the default: every access module must agree
    ng = nginx(location_extra="allow 127.0.0.1; deny all;")
    assert requests.get(ng.url(SHARE), timeout=5).status_code == 401
    r = requests.get(ng.url(SHARE), headers=bearer("fraud"), timeout=5)
    assert r.status_code == 200
    ng = nginx(location_extra="deny 127.0.0.1;")
    r = requests.get(ng.url(SHARE), headers=bearer("fraud"), timeout=5)
    assert r.status_code == 403
    assert r.json()["errorCode"] == "PERMISSION_DENIED"


