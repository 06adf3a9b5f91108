"""JWT recipients (issue #15): partners authenticate with their own
identity provider's tokens. A test IdP on loopback (oidc_idp.py,
python3-jwcrypto) issues them; keys reach nginx as a JWKS file read at
configuration time, so rotation is a reload.

The real delta-sharing client is not installable here (no PyPI), so
OAuthClient below follows its oauth_client_credentials flow: a v2 profile
(shareCredentialsVersion 2, type oauth_client_credentials), a POST of
grant_type=client_credentials[&scope=...] with HTTP Basic to
tokenEndpoint, then Authorization: Bearer <access_token>, renewed when
less than 600 s remain, and a 401 never retried with a new token.
"""

import base64
import hashlib
import json
import os
import time

import pytest
import requests
from jwcrypto import jwk

from conftest import (PREFIX, TOKENS, UPSTREAM_TOKEN, bearer, dsctl,
                      make_policy, wait_for, write_policy)
from oidc_idp import ASSERTION_TYPE, TestIdP, b64u, sign_raw
from test_audit import records, requests_of
from test_files import keys  # noqa: F401  (fixture: dsctl files keygen)
from test_ratelimit import redis_conf

SHARES = PREFIX + "/shares"
QUERY = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims/query"
AUD = "delta-sharing"

LOCATION = """\
            add_header X-Reason $ds_reason always;
            proxy_set_header X-DS-Recipient $ds_recipient;
            proxy_set_header X-DS-Token-Id $ds_token_id;
            proxy_set_header X-DS-JWT-Issuer $ds_jwt_issuer;
            proxy_set_header X-DS-JWT-Subject $ds_jwt_subject;"""


class OAuthClient:
    """The delta-sharing client's oauth_client_credentials behaviour."""

    def __init__(self, profile):
        assert profile["shareCredentialsVersion"] == 2
        assert profile["type"] == "oauth_client_credentials"
        self.p = profile
        self.token = None
        self.expires = 0
        self.fetched = 0

    def access_token(self):
        if self.token is None or self.expires - time.time() < 600:
            form = {"grant_type": "client_credentials"}
            if self.p.get("scope"):
                form["scope"] = self.p["scope"]
            r = requests.post(self.p["tokenEndpoint"], data=form,
                              auth=(self.p["clientId"],
                                    self.p["clientSecret"]), timeout=10)
            r.raise_for_status()
            body = r.json()
            assert body["token_type"].lower() == "bearer"
            self.token = body["access_token"]
            self.expires = time.time() + int(body["expires_in"])
            self.fetched += 1
        return self.token

    def request(self, method, path, **kw):
        headers = {"Authorization": "Bearer " + self.access_token()}
        return requests.request(method, self.p["endpoint"].rstrip("/")
                                + path, headers=headers, timeout=10, **kw)


@pytest.fixture
def idp():
    i = TestIdP(ttl=3600, audience=AUD).start()
    i.add_client("fraud-etl", secret="s3cret-fraud")
    i.add_client("dp-app", secret="s3cret-dp", groups=["dp-readers", "x"])
    i.add_client("susp-app", secret="s3cret-susp")
    yield i
    i.stop()


def fed_policy(idp, jwks_path, issuer_extra=None):
    p = make_policy()
    iss = {"jwks_file": jwks_path, "algorithms": ["RS256", "ES256"],
           "max_lifetime": 7200}
    iss.update(issuer_extra or {})
    p["issuers"] = {idp.issuer: iss}
    fed = {
        "fraud-analytics": {"subject_claim": "sub",
                            "subjects": ["fraud-etl", "pkjwt-client"]},
        "distribution-partner": {"subject_claim": "groups",
                                 "subjects": ["dp-readers"]},
        "suspended-co": {"subject_claim": "azp", "subjects": ["susp-app"]},
    }
    for r in p["recipients"]:
        f = dict(fed[r["id"]], issuer=idp.issuer, audiences=[AUD])
        r["federation"] = [f]
    return p


@pytest.fixture
def gw(nginx, idp, tmp_path):
    """nginx with the IdP's issuer, an audit log; (ng, audit log path)"""
    jwks = idp.write_jwks(tmp_path / "idp-jwks.json")
    log = str(tmp_path / "audit.log")
    ng = nginx(policy=fed_policy(idp, jwks), location_extra=LOCATION,
               http_extra="    ds_audit_log %s;" % log)
    ng.jwks_path = jwks
    return ng, log


def audited(log, n):
    """the request records, once n are written (the log phase runs
    after the answer reached the client)"""
    def enough():
        return os.path.exists(log) and len(requests_of(records(log))) >= n
    wait_for(enough, what="%d audit records" % n)
    return requests_of(records(log))


def profile(ng, idp, cid, secret):
    return {"shareCredentialsVersion": 2, "type": "oauth_client_credentials",
            "endpoint": ng.url(PREFIX), "tokenEndpoint": idp.token_endpoint,
            "clientId": cid, "clientSecret": secret, "scope": "delta-sharing"}


def get(ng, tok, path=SHARES):
    return requests.get(ng.url(path), headers={"Authorization":
                                                "Bearer " + tok}, timeout=10)


def assert_invalid_token(r, reason):
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["X-Reason"] == reason
    assert r.json()["errorCode"] == "UNAUTHENTICATED"
    www = r.headers["WWW-Authenticate"]
    assert www.startswith('Bearer realm="delta-sharing", '
                          'error="invalid_token"'), www
    if reason.startswith("jwt_"):
        assert ', error_description="' in www, www
        assert www.endswith('"')


# ------------------------------------------------------------ happy paths

def test_oauth_client_credentials_profile_end_to_end(gw, idp, upstream):
    ng, log = gw
    client = OAuthClient(profile(ng, idp, "fraud-etl", "s3cret-fraud"))

    r = client.request("GET", "/shares")
    assert r.status_code == 200, r.text
    assert r.headers["X-Reason"] == "allowed"
    # the list is filtered for the recipient the JWT maps to
    assert [s["name"] for s in r.json()["items"]] == ["claims"]

    r = client.request("POST", QUERY[len(PREFIX):], json={})
    assert r.status_code == 200, r.text
    assert client.fetched == 1      # one token for both calls

    seen = upstream.requests()[-1]["headers"]
    assert seen["x-ds-recipient"] == "fraud-analytics"
    assert seen["x-ds-jwt-issuer"] == idp.issuer
    assert seen["x-ds-jwt-subject"] == "fraud-etl"
    assert seen["x-ds-token-id"].startswith("jwt:%s:" % idp.kid)
    # the partner's JWT never reaches the upstream
    assert seen["authorization"] == "Bearer " + UPSTREAM_TOKEN
    assert client.token not in json.dumps(upstream.requests())

    # audit: issuer, subject, kid, jti hash, exp; never the token
    reqs = audited(log, 2)
    text = open(log).read()
    assert client.token not in text
    assert client.token.split(".")[2] not in text
    assert len(reqs) == 2
    for rec in reqs:
        assert rec["recipient"] == "fraud-analytics"
        assert rec["reason"] == "allowed"
        j = rec["jwt"]
        assert j["issuer"] == idp.issuer
        assert j["subject"] == "fraud-etl"
        assert j["kid"] == idp.kid
        assert len(j["jti_hash"]) == 16
        assert rec["token_id"] == "jwt:%s:%s" % (j["kid"], j["jti_hash"])
        assert abs(j["exp"] - (time.time() + 3600)) < 120
    assert client.token not in ng.log_since(0)


def test_groups_and_static_tokens_side_by_side(gw, idp, upstream):
    ng, log = gw
    client = OAuthClient(profile(ng, idp, "dp-app", "s3cret-dp"))
    r = client.request("GET", "/shares")
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["items"]] == ["provider_directory"]
    assert upstream.requests()[-1]["headers"]["x-ds-jwt-subject"] == \
        "dp-readers"

    # a static token of the same policy still works, with no jwt record
    r = requests.get(ng.url(SHARES), headers=bearer("dist"), timeout=10)
    assert r.status_code == 200
    recs = audited(log, 2)
    assert recs[-1]["token_id"] == "dp-1"
    assert recs[-1]["jwt"] is None
    assert recs[-2]["jwt"]["subject"] == "dp-readers"


def test_private_key_jwt_client(gw, idp):
    # oauth_jwt_bearer_private_key_jwt: the client signs an assertion
    ng, _ = gw
    ck = jwk.JWK.generate(kty="EC", crv="P-256", kid="c1")
    idp.add_client("pkjwt-client",
                   public_jwk=jwk.JWK(**json.loads(ck.export_public())))
    now = int(time.time())
    assertion = sign_raw(ck, {"alg": "ES256", "kid": "c1"},
                         {"iss": "pkjwt-client", "sub": "pkjwt-client",
                          "aud": idp.token_endpoint, "iat": now,
                          "exp": now + 300, "jti": "a1"})
    r = requests.post(idp.token_endpoint, timeout=10, data={
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion})
    assert r.status_code == 200, r.text
    r = get(ng, r.json()["access_token"])
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["items"]] == ["claims"]


def test_same_checks_as_static_tokens(gw, idp, upstream):
    ng, _ = gw
    # suspended recipient (matched by azp): 403, not a JWT problem
    r = get(ng, idp.token_for("susp-app"))
    assert r.status_code == 403
    assert r.headers["X-Reason"] == "recipient_suspended"
    # a share the recipient has no grant for
    r = get(ng, idp.token_for("fraud-etl"),
            PREFIX + "/shares/provider_directory/schemas")
    assert r.status_code == 404
    assert r.headers["X-Reason"] == "not_entitled"
    assert upstream.requests() == []


# ----------------------------------------------------------- the hostile

def hostile_tokens(idp):
    """(name, token, reason): every rejection class."""
    now = int(time.time())
    good = {"iss": idp.issuer, "sub": "fraud-etl", "aud": AUD,
            "iat": now, "exp": now + 600, "jti": "h1"}
    hdr = {"alg": "RS256", "kid": idp.kid}
    k = idp.key
    pub_pem = k.export_to_pem()     # the RSA public key, as HS256 secret
    other = jwk.JWK.generate(kty="RSA", size=2048)
    eck = jwk.JWK.generate(kty="EC", crv="P-256")

    def c(**kw):
        d = dict(good, **kw)
        return {x: y for x, y in d.items() if y is not None}

    raw_dup = ('{"iss": "%s", "sub": "fraud-etl", "sub": "dp-app", '
               '"aud": "%s", "exp": %d}' % (idp.issuer, AUD, now + 600))
    t = [
        ("alg_none", sign_raw(None, {"alg": "none"}, good), "jwt_alg"),
        ("hs256_with_rsa_public_key",
         sign_raw(pub_pem, {"alg": "HS256", "kid": idp.kid}, good),
         "jwt_alg"),
        ("es256_header_rsa_kid",
         sign_raw(eck, {"alg": "ES256", "kid": idp.kid}, good), "jwt_alg"),
        ("rs384_not_allowed",
         sign_raw(k, {"alg": "RS384", "kid": idp.kid}, good, alg="RS256"),
         "jwt_alg"),
        ("unknown_kid", sign_raw(k, dict(hdr, kid="nope"), good),
         "jwt_key_unknown"),
        ("wrong_key_known_kid", sign_raw(other, hdr, good),
         "jwt_bad_signature"),
        ("expired", sign_raw(k, hdr, c(exp=now - 120, iat=now - 700)),
         "jwt_expired"),
        ("not_yet_valid", sign_raw(k, hdr, c(nbf=now + 600)),
         "jwt_not_yet_valid"),
        ("iat_in_future", sign_raw(k, hdr, c(iat=now + 600, exp=now + 900)),
         "jwt_not_yet_valid"),
        ("too_long_lived", sign_raw(k, hdr, c(exp=now + 86400)),
         "jwt_lifetime"),
        ("no_exp", sign_raw(k, hdr, c(exp=None)), "jwt_malformed"),
        ("wrong_iss", sign_raw(k, hdr, c(iss="https://evil.example")),
         "jwt_issuer_unknown"),
        ("iss_with_slash", sign_raw(k, hdr, c(iss=idp.issuer + "/")),
         "jwt_issuer_unknown"),
        ("wrong_aud", sign_raw(k, hdr, c(aud="other-api")), "jwt_audience"),
        ("aud_array_without_ours", sign_raw(k, hdr, c(aud=["a", "b"])),
         "jwt_audience"),
        ("missing_sub", sign_raw(k, hdr, c(sub=None)), "jwt_subject"),
        ("unknown_sub", sign_raw(k, hdr, c(sub="someone-else")),
         "jwt_subject"),
        ("sub_as_array", sign_raw(k, hdr, c(sub=["fraud-etl"])),
         "jwt_subject"),
        ("duplicate_claims", sign_raw(k, hdr, raw_dup), "jwt_malformed"),
        ("crit_header", sign_raw(k, dict(hdr, crit=["exp"]), good),
         "jwt_malformed"),
        ("header_not_json", b64u("not json") + "." + b64u("{}") + ".AAAA",
         "jwt_malformed"),
        ("bad_base64_length", "eyJhbGciOiJSUzI1NiJ9" + "A" + "." +
         b64u(json.dumps(good)) + ".AAAA", "jwt_malformed"),
        ("base64_with_padding", sign_raw(k, hdr, good) + "==",
         "token_unknown"),
        ("oversized", sign_raw(k, hdr, c(pad="x" * 5000)),
         "token_malformed"),
    ]
    # a good token with one signature character changed
    tok = sign_raw(k, hdr, good)
    flip = "A" if tok[-10] != "A" else "B"
    t.append(("flipped_signature", tok[:-10] + flip + tok[-9:],
              "jwt_bad_signature"))
    return t


def test_hostile_tokens(gw, idp, upstream):
    ng, log = gw
    cases = hostile_tokens(idp)
    for name, tok, reason in cases:
        r = get(ng, tok)
        assert r.headers.get("X-Reason") == reason, (name, r.status_code,
                                                     r.text)
        assert_invalid_token(r, reason)
        assert tok not in r.text
    assert upstream.requests() == []

    # the same good claims, signed right, pass: the cases test one thing
    now = int(time.time())
    ok = sign_raw(idp.key, {"alg": "RS256", "kid": idp.kid},
                  {"iss": idp.issuer, "sub": "fraud-etl",
                   "aud": ["other", AUD], "iat": now, "exp": now + 600})
    assert get(ng, ok).status_code == 200

    reasons = [r["reason"] for r in audited(log, len(cases) + 1)]
    text = open(log).read()
    for name, tok, reason in cases:
        assert tok not in text, name
    assert reasons == [c[2] for c in cases] + ["allowed"]


def test_www_authenticate_description(gw, idp):
    ng, _ = gw
    now = int(time.time())
    tok = sign_raw(idp.key, {"alg": "RS256", "kid": idp.kid},
                   {"iss": idp.issuer, "sub": "fraud-etl", "aud": AUD,
                    "exp": now - 3600})
    r = get(ng, tok)
    assert r.headers["WWW-Authenticate"] == (
        'Bearer realm="delta-sharing", error="invalid_token", '
        'error_description="The JWT has expired"')
    # a static token's 401 is unchanged
    r = requests.get(ng.url(SHARES), headers=bearer("nope-token"),
                     timeout=10)
    assert r.headers["WWW-Authenticate"] == (
        'Bearer realm="delta-sharing", error="invalid_token"')


# ------------------------------------------------- keys, reload, revoking

def test_key_rotation_by_reload(gw, idp):
    ng, _ = gw
    old = idp.token_for("fraud-etl")
    assert get(ng, old).status_code == 200

    # the IdP rotates (the old key leaves its JWKS); nginx has not heard
    idp.rotate()
    new = idp.token_for("fraud-etl")
    assert_invalid_token(get(ng, new), "jwt_key_unknown")
    assert get(ng, old).status_code == 200

    # the operator fetches the new JWKS into the file and reloads
    idp.write_jwks(ng.jwks_path)
    assert ng.reload()
    assert get(ng, new).status_code == 200
    assert_invalid_token(get(ng, old), "jwt_key_unknown")


def test_reload_with_a_bad_jwks_keeps_the_old_keys(gw, idp, request):
    request.node.allow_log = ("idp-jwks.json",)
    ng, _ = gw
    tok = idp.token_for("fraud-etl")
    with open(ng.jwks_path, "w") as f:
        f.write('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}')
    assert not ng.reload()
    assert "idp-jwks.json" in ng.log_since(0)
    # fail safe: the running configuration (and its keys) stays
    assert get(ng, tok).status_code == 200


def test_revocation_applies_to_jwt_recipients(nginx, idp, redis, tmp_path):
    jwks = idp.write_jwks(tmp_path / "jwks.json")
    ng = nginx(policy=fed_policy(idp, jwks), location_extra=LOCATION,
               http_extra=redis_conf(redis))
    tok = idp.token_for("fraud-etl")
    r = get(ng, tok)
    assert r.status_code == 200

    # by token id: jwt:<kid>:<first 16 hex of sha256(jti)>
    jti = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))["jti"]
    tid = "jwt:%s:%s" % (idp.kid,
                         hashlib.sha256(jti.encode()).hexdigest()[:16])
    addr = "127.0.0.1:%d" % redis.port
    assert dsctl("revoke", "token", tid, "--recipient",
                 "fraud-analytics", "--redis", addr).returncode == 0
    r = get(ng, tok)
    assert r.status_code == 401
    assert r.headers["X-Reason"] == "token_revoked"
    # another token of the same recipient is not revoked
    assert get(ng, idp.token_for("fraud-etl")).status_code == 200

    assert dsctl("revoke", "recipient", "fraud-analytics", "--redis",
                 addr).returncode == 0
    r = get(ng, idp.token_for("fraud-etl"))
    assert r.status_code == 403
    assert r.headers["X-Reason"] == "recipient_revoked"
    # the static token of that recipient: revoked alike
    r = requests.get(ng.url(SHARES), headers=bearer("fraud"), timeout=10)
    assert r.status_code == 403


# ------------------------------------------------------- configuration

def test_nginx_t_and_policy_check_report_federation_errors(nginx, idp,
                                                           tmp_path,
                                                           request):
    request.node.allow_log = ("missing-jwks.json",)
    p = fed_policy(idp, str(tmp_path / "missing-jwks.json"))
    path = write_policy(tmp_path / "bad.json", p)
    ng = nginx(policy_path=path, start=False)
    rc, out = ng.test_config()
    assert rc != 0
    assert "missing-jwks.json" in out and "cannot open" in out

    r = dsctl("policy", "check", path)
    assert r.returncode == 1
    assert "$.issuers." in r.stderr and "missing-jwks.json" in r.stderr

    jwks = idp.write_jwks(tmp_path / "jwks.json")
    p = fed_policy(idp, jwks)
    p["recipients"][0]["federation"][0]["issuer"] = "https://typo.example"
    path = write_policy(tmp_path / "bad2.json", p)
    r = dsctl("policy", "check", path)
    assert r.returncode == 1
    assert ("$.recipients[0].federation[0]: issuer "
            "\"https://typo.example\" is not in the policy's \"issuers\""
            in r.stderr)

    p = fed_policy(idp, jwks, {"algorithms": ["HS256"]})
    r = dsctl("policy", "check", write_policy(tmp_path / "bad3.json", p))
    assert r.returncode == 1
    assert "never none or HS*" in r.stderr

    r = dsctl("policy", "check", write_policy(tmp_path / "ok.json",
                                              fed_policy(idp, jwks)))
    assert r.returncode == 0, r.stderr


def test_json_schema_knows_federation(idp, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    here = os.path.dirname(__file__)
    schema = json.load(open(os.path.join(here, "..", "..", "policies",
                                         "ds-policy.schema.json")))
    v = jsonschema.Draft202012Validator(schema)
    p = fed_policy(idp, "jwks.json")
    v.validate(p)
    bad = fed_policy(idp, "jwks.json")
    bad["recipients"][0]["federation"][0]["subject_claim"] = "email"
    assert not v.is_valid(bad)
    bad = fed_policy(idp, "jwks.json", {"algorithms": ["none"]})
    assert not v.is_valid(bad)
    bad = fed_policy(idp, "jwks.json")
    del bad["recipients"][0]["federation"][0]["audiences"]
    assert not v.is_valid(bad)


def test_policy_explain_jwt(idp, tmp_path):
    jwks = idp.write_jwks(tmp_path / "jwks.json")
    path = write_policy(tmp_path / "policy.json", fed_policy(idp, jwks))
    tokfile = tmp_path / "token.jwt"

    tokfile.write_text(idp.token_for("dp-app") + "\n")
    r = dsctl("policy", "explain", path, "--jwt", str(tokfile), "GET",
              SHARES + "/provider_directory/schemas")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "decision:   allow" in r.stdout
    assert "recipient:  distribution-partner" in r.stdout
    assert "jwt issuer: " + idp.issuer in r.stdout
    assert 'jwt match:  groups "dp-readers"' in r.stdout
    assert "jwt kid:    " + idp.kid in r.stdout
    assert "token id:   jwt:" + idp.kid + ":" in r.stdout
    # the token is never echoed
    assert tokfile.read_text().strip() not in r.stdout + r.stderr

    # why not: a token for another audience
    tokfile.write_text(idp.token_for("fraud-etl", aud="another-api"))
    r = dsctl("policy", "explain", path, "--jwt", str(tokfile), "GET",
              SHARES)
    assert r.returncode == 1
    assert "reason:     jwt_audience" in r.stdout
    assert "jwt match:  - (no federation entry)" in r.stdout
    assert "recipient:  -" in r.stdout

    # expired at --at
    tokfile.write_text(idp.token_for("fraud-etl"))
    r = dsctl("policy", "explain", path, "--jwt", str(tokfile),
              "--at", "2099-01-01T00:00:00Z", "GET", SHARES)
    assert r.returncode == 1
    assert "reason:     jwt_expired" in r.stdout

    r = dsctl("policy", "explain", path, "--jwt", str(tmp_path / "none"),
              "GET", SHARES)
    assert r.returncode == 2
    assert "--jwt" in r.stderr


def test_file_proxy_links_of_a_jwt_recipient(nginx, idp, tmp_path, keys,
                                             store, store_upstream):
    # file proxy mode: links handed to a JWT recipient carry its jwt: id
    # and are re-checked live through the recipient, as static ones are
    from test_files_proxy import FILES, TABLE, files_of
    jwks = idp.write_jwks(tmp_path / "jwks.json")
    audit = str(tmp_path / "audit.log")
    ng = nginx(policy=fed_policy(idp, jwks), upstream_port=store_upstream.port,
               http_extra=("    ds_files_key k1 %s;\n    ds_audit_log %s;\n"
                           % (keys["k1"], audit)),
               location_extra=(
                   "            proxy_set_header Accept-Encoding \"\";\n"
                   "            ds_files_proxy http://$host:$server_port"
                   "%s;\n" % FILES),
               server_extra=("        location %s {\n"
                             "            ds_files on;\n"
                             "            proxy_pass $ds_file_url;\n"
                             "        }\n" % FILES))
    tok = idp.token_for("fraud-etl")
    r = requests.post(ng.url(TABLE + "/query"), json={}, timeout=10,
                      headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200, r.text
    links = files_of(r.content)
    assert len(links) == 3
    for f in links.values():
        d = requests.get(f["url"], timeout=10)
        assert d.status_code == 200, d.text
        assert len(d.content) > 0

    recs = audited(audit, 4)
    downloads = [x for x in recs if x.get("file")]
    assert len(downloads) == 3
    assert all(x["recipient"] == "fraud-analytics" for x in downloads)
    assert all(x["token_id"] == recs[0]["token_id"] for x in downloads)
    assert recs[0]["token_id"].startswith("jwt:")
    assert tok not in open(audit).read()
