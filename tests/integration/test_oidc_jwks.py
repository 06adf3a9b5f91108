"""JWKS from an issuer's jwks_uri (issue #15): fetched by a subrequest to
the ds_jwks_fetch location (proxy_pass $ds_jwks_uri), cached per worker
with a TTL, refetched on an unknown kid at a bounded rate, the last good
keys kept when a fetch fails, jwks_unavailable (503) with no keys at all.
The test IdP (oidc_idp.py) serves the JWKS; the tests rotate its keys and
make its /jwks endpoint fail, answer garbage or hang.
"""

import threading

import pytest
import requests
from jwcrypto import jwk

from conftest import wait_for, write_policy
from oidc_idp import TestIdP
from test_oidc import AUD, LOCATION, SHARES, fed_policy, get

FETCH = """\
        location = /_ds_jwks {
            internal;
            proxy_pass $ds_jwks_uri;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            subrequest_output_buffer_size 64k;
            proxy_connect_timeout 2s;
            proxy_read_timeout %s;
        }"""


@pytest.fixture
def idp():
    i = TestIdP(ttl=3600, audience=AUD).start()
    i.add_client("fraud-etl", secret="s3cret-fraud")
    yield i
    i.release.set()
    i.stop()


def uri_policy(idp, with_file=None):
    p = fed_policy(idp, "unused")
    iss = p["issuers"][idp.issuer]
    del iss["jwks_file"]
    if with_file:
        iss["jwks_file"] = with_file
    iss["jwks_uri"] = idp.issuer + "/jwks"
    return p


def start(nginx, idp, ttl="300s", gap="10s", read_timeout="10s"):
    http = ("    ds_jwks_fetch /_ds_jwks;\n"
            "    ds_jwks_ttl %s;\n"
            "    ds_jwks_refetch_interval %s;" % (ttl, gap))
    return nginx(policy=uri_policy(idp), location_extra=LOCATION,
                 http_extra=http, server_extra=FETCH % read_timeout)


def test_first_request_fetches_and_the_client_bearer_stays_here(nginx, idp):
    ng = start(nginx, idp)
    tok = idp.token_for("fraud-etl")
    r = get(ng, tok)
    assert r.status_code == 200, r.text
    assert r.headers["X-Reason"] == "allowed"
    assert idp.jwks_hits == 1
    # the cached keys serve the next requests
    assert get(ng, tok).status_code == 200
    assert idp.jwks_hits == 1
    # the IdP never sees the client's JWT (nor any of its headers)
    seen = idp.jwks_headers[0]
    assert not any(k.lower() == "authorization" for k in seen), seen
    assert tok not in str(seen)


def test_new_kid_at_the_idp_is_accepted_without_reload(nginx, idp):
    ng = start(nginx, idp, gap="1s")
    old = idp.token_for("fraud-etl")
    assert get(ng, old).status_code == 200

    idp.rotate()
    new = idp.token_for("fraud-etl")
    # an unknown kid refetches (once the refetch interval has passed)
    wait_for(lambda: get(ng, new).status_code == 200, what="new kid")
    assert idp.jwks_hits >= 2
    # the old key left the IdP's JWKS, so it left the gateway's too
    r = get(ng, old)
    assert r.status_code == 401
    assert r.headers["X-Reason"] == "jwt_key_unknown"


def test_unknown_kid_refetch_is_rate_bounded(nginx, idp):
    ng = start(nginx, idp, gap="60s")
    assert get(ng, idp.token_for("fraud-etl")).status_code == 200
    assert idp.jwks_hits == 1

    # tokens under kids the IdP never published: each could ask for a
    # fetch; one per interval is allowed, and one was just made
    stranger = jwk.JWK.generate(kty="RSA", size=2048)
    for i in range(20):
        idp_kid = "forged-%d" % i
        tok = sign_with(idp, stranger, idp_kid)
        r = get(ng, tok)
        assert r.status_code == 401
        assert r.headers["X-Reason"] == "jwt_key_unknown"
    assert idp.jwks_hits == 1


def sign_with(idp, key, kid):
    from jwcrypto import jwt
    import time
    now = int(time.time())
    t = jwt.JWT(header={"alg": "RS256", "kid": kid},
                claims={"iss": idp.issuer, "sub": "fraud-etl", "aud": AUD,
                        "iat": now, "exp": now + 600})
    t.make_signed_token(key)
    return t.serialize()


@pytest.mark.parametrize("mode", ["down", "garbage"])
def test_failed_refresh_keeps_the_last_good_keys(nginx, idp, request, mode):
    request.node.allow_log = ("JWKS",)
    ng = start(nginx, idp, ttl="1s", gap="1s")
    tok = idp.token_for("fraud-etl")
    assert get(ng, tok).status_code == 200

    idp.jwks_mode = mode
    # the keys go stale each second; every refresh fails; tokens pass
    def refreshed_twice():
        r = get(ng, tok)
        assert r.status_code == 200, r.text
        return idp.jwks_hits >= 3
    wait_for(refreshed_twice, what="failed refreshes")
    assert "not updated" in ng.log_since(0)

    # and once the IdP is back, a rotation is picked up again
    idp.jwks_mode = "ok"
    idp.rotate()
    new = idp.token_for("fraud-etl")
    wait_for(lambda: get(ng, new).status_code == 200, what="recovery")


def test_jwks_down_from_the_start_is_jwks_unavailable(nginx, idp, request):
    request.node.allow_log = ("JWKS",)
    idp.jwks_mode = "down"
    ng = start(nginx, idp, gap="60s")
    tok = idp.token_for("fraud-etl")
    for _ in range(3):
        r = get(ng, tok)
        assert r.status_code == 503, r.text
        assert r.headers["X-Reason"] == "jwks_unavailable"
        assert r.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"
    # fail closed without hammering the IdP: one fetch per interval
    assert idp.jwks_hits == 1


def test_garbage_from_the_start_is_jwks_unavailable(nginx, idp, request):
    request.node.allow_log = ("JWKS",)
    idp.jwks_mode = "garbage"
    ng = start(nginx, idp)
    r = get(ng, idp.token_for("fraud-etl"))
    assert r.status_code == 503
    assert r.headers["X-Reason"] == "jwks_unavailable"


def test_a_slow_jwks_endpoint_stalls_no_other_request(nginx, idp):
    idp.jwks_mode = "slow"
    ng = start(nginx, idp)          # one worker: all requests share it
    tok = idp.token_for("fraud-etl")
    out = {}

    def parked():
        out["r"] = get(ng, tok)

    t = threading.Thread(target=parked)
    t.start()
    wait_for(lambda: idp.jwks_hits == 1, what="the fetch to start")

    # the fetch hangs; the same worker still answers everything else
    r = requests.get(ng.url("/plain"), timeout=10)
    assert r.status_code == 200
    r = get(ng, "not-a-known-token")
    assert r.status_code == 401
    assert "r" not in out and t.is_alive()

    idp.release.set()
    t.join(15)
    assert out["r"].status_code == 200, out["r"].text


def concurrent_gets(ng, toks):
    """GET SHARES with each token at once, each in its own thread."""
    out = [None] * len(toks)

    def one(i):
        try:
            out[i] = get(ng, toks[i])
        except requests.RequestException as e:
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,))
               for i in range(len(toks))]
    for t in threads:
        t.start()
    return out, threads


def parked_beside_one_fetch(ng, idp, n):
    """n first requests in flight, all waiting for the one fetch."""
    toks = [idp.token_for("fraud-etl") for _ in range(n)]
    out, threads = concurrent_gets(ng, toks)
    wait_for(lambda: idp.jwks_hits == 1, what="the fetch to start")
    # every request reached the gateway (its worker parked it): the
    # stub status counts them as writing
    wait_for(lambda: writing(ng) >= n + 1, what="all requests parked")
    assert all(r is None for r in out) and all(t.is_alive()
                                              for t in threads)
    return out, threads


def writing(ng):
    text = requests.get(ng.url("/_status"), timeout=5).text
    return int(text.split("Writing:")[1].split()[0])


STATUS = "\n        location = /_status { stub_status; }"


def test_first_requests_park_beside_one_fetch(nginx, idp):
    idp.jwks_mode = "slow"
    http = "    ds_jwks_fetch /_ds_jwks;"
    ng = nginx(policy=uri_policy(idp), location_extra=LOCATION,
               http_extra=http, server_extra=FETCH % "10s" + STATUS)
    out, threads = parked_beside_one_fetch(ng, idp, 6)

    # meanwhile the worker serves the rest at once
    r = requests.get(ng.url("/plain"), timeout=5)
    assert r.status_code == 200
    assert get(ng, "not-a-known-token").status_code == 401
    assert all(r is None for r in out)

    idp.release.set()
    for t in threads:
        t.join(15)
    for r in out:
        assert not isinstance(r, Exception), r
        assert r.status_code == 200, r.text
        assert r.headers["X-Reason"] == "allowed"
    # one fetch served them all
    assert idp.jwks_hits == 1


@pytest.mark.parametrize("mode", ["slow-down", "slow"])
def test_parked_requests_share_a_failed_fetch(nginx, idp, request, mode):
    """The fetch fails (a 503 from the IdP, or no answer within the
    proxy timeout): every request parked for it is jwks_unavailable,
    and the IdP saw one fetch."""
    request.node.allow_log = ("JWKS", "timed out")
    idp.jwks_mode = mode
    http = ("    ds_jwks_fetch /_ds_jwks;\n"
            "    ds_jwks_refetch_interval 60s;")
    timeout = "3s" if mode == "slow" else "10s"
    ng = nginx(policy=uri_policy(idp), location_extra=LOCATION,
               http_extra=http, server_extra=FETCH % timeout + STATUS)
    out, threads = parked_beside_one_fetch(ng, idp, 5)

    if mode == "slow-down":
        idp.release.set()
    for t in threads:
        t.join(15)
    for r in out:
        assert not isinstance(r, Exception), r
        assert r.status_code == 503, r.text
        assert r.headers["X-Reason"] == "jwks_unavailable"
    assert idp.jwks_hits == 1


def test_a_parked_client_that_leaves_is_forgotten(nginx, idp):
    """A client that gives up while parked leaves nothing behind: the
    fetch's end resumes only the others."""
    import socket
    idp.jwks_mode = "slow"
    http = "    ds_jwks_fetch /_ds_jwks;"
    ng = nginx(policy=uri_policy(idp), location_extra=LOCATION,
               http_extra=http, server_extra=FETCH % "10s" + STATUS)
    out, threads = parked_beside_one_fetch(ng, idp, 2)

    s = socket.create_connection(("127.0.0.1", ng.port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
               "\r\n\r\n" % (SHARES, idp.token_for("fraud-etl")))
              .encode())
    wait_for(lambda: writing(ng) >= 4, what="the third request parked")
    s.close()
    wait_for(lambda: writing(ng) == 3, what="the leaver gone")

    idp.release.set()
    for t in threads:
        t.join(15)
    assert [r.status_code for r in out] == [200, 200]
    assert idp.jwks_hits == 1
    # and the worker lives on
    assert get(ng, idp.token_for("fraud-etl")).status_code == 200


def test_a_hung_fetch_is_answered_at_the_proxy_timeout(nginx, idp, request):
    request.node.allow_log = ("JWKS", "timed out")
    idp.jwks_mode = "slow"
    ng = start(nginx, idp, read_timeout="1s")
    r = get(ng, idp.token_for("fraud-etl"))
    assert r.status_code == 503
    assert r.headers["X-Reason"] == "jwks_unavailable"


def test_jwks_uri_with_a_file_serves_the_file_keys_first(nginx, idp,
                                                         tmp_path):
    jwks = idp.write_jwks(tmp_path / "idp-jwks.json")
    http = "    ds_jwks_fetch /_ds_jwks;"
    ng = nginx(policy=uri_policy(idp, with_file=jwks),
               location_extra=LOCATION, http_extra=http,
               server_extra=FETCH % "5s")
    tok = idp.token_for("fraud-etl")
    # the file's keys are there; the first request refreshes them
    assert get(ng, tok).status_code == 200
    idp.rotate()
    new = idp.token_for("fraud-etl")
    assert get(ng, new).status_code == 401     # within the interval
    assert idp.jwks_hits == 1


def test_nginx_t_refuses_jwks_uri_without_a_fetch_location(nginx, idp,
                                                           tmp_path,
                                                           request):
    request.node.allow_log = ("jwks_uri",)
    ng = nginx(policy=uri_policy(idp), start=False)
    rc, out = ng.test_config()
    assert rc != 0
    assert "ds_jwks_fetch" in out

    bad = uri_policy(idp)
    bad["issuers"][idp.issuer]["jwks_uri"] = "ftp://idp.example/jwks"
    path = write_policy(str(tmp_path / "bad.json"), bad)
    ng = nginx(policy_path=path, start=False,
               http_extra="    ds_jwks_fetch /_ds_jwks;")
    rc, out = ng.test_config()
    assert rc != 0
    assert "jwks_uri" in out and "https://" in out




def test_fetches_are_counted_in_the_metrics_zone(nginx, idp, request):
    request.node.allow_log = ("JWKS",)
    from test_metrics import parse
    http = ("    ds_jwks_fetch /_ds_jwks;\n"
            "    ds_jwks_ttl 1s;\n"
            "    ds_jwks_refetch_interval 1s;\n"
            "    ds_metrics_zone dsm 4m;")
    ng = nginx(policy=uri_policy(idp), location_extra=LOCATION,
               http_extra=http, server_extra=FETCH % "5s"
               + "\n        location = /metrics { ds_metrics; }")
    tok = idp.token_for("fraud-etl")

    def counts():
        s = parse(requests.get(ng.url("/metrics"), timeout=5).text)
        return (s[("ds_jwks_fetches_total", frozenset())],
                s[("ds_jwks_fetch_failures_total", frozenset())])

    assert counts() == (0, 0)
    assert get(ng, tok).status_code == 200
    assert counts() == (1, 0)
    idp.jwks_mode = "garbage"
    wait_for(lambda: get(ng, tok).status_code == 200
             and counts()[1] >= 1, what="a failed fetch counted")
    assert counts()[0] == 1
