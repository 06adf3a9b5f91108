"""dsctl profile oauth|private-key-jwt (issue #15): the v2 profiles it
writes drive the real flow. Each profile is read with the field names
the delta-sharing python client's DeltaSharingProfile.from_json uses,
the token is fetched from the test IdP as that client does (Basic auth
client_credentials; an RFC 7523 jwt-bearer grant signed with the
profile's key file), and the gateway answers the token 200.
"""

import json
import os
import stat
import time
import uuid

import requests
from jwcrypto import jwk, jwt

from conftest import PREFIX, dsctl
from test_oidc import OAuthClient, get, gw, idp  # noqa: F401 (fixtures)

SECRET = "s3cret-fraud"


def oauth_args(ng, idp, tmp_path, secret=SECRET + "\n", out="p.share",
               extra=()):
    sf = tmp_path / "client.secret"
    sf.write_text(secret)
    return ["profile", "oauth", "--endpoint", ng.url(PREFIX) + "/",
            "--token-endpoint", idp.token_endpoint,
            "--client-id", "fraud-etl", "--client-secret-file", str(sf),
            "--scope", "delta-sharing", "--out", str(tmp_path / out),
            "--insecure-http"] + list(extra)


def test_oauth_profile_drives_the_flow(gw, idp, tmp_path, upstream):
    ng, _ = gw
    r = dsctl(*oauth_args(ng, idp, tmp_path))
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
    path = tmp_path / "p.share"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    p = json.loads(path.read_text())
    assert p == {"shareCredentialsVersion": 2,
                 "type": "oauth_client_credentials",
                 "endpoint": ng.url(PREFIX) + "/",
                 "tokenEndpoint": idp.token_endpoint,
                 "clientId": "fraud-etl",
                 "clientSecret": SECRET,        # trailing newline dropped
                 "scope": "delta-sharing"}

    client = OAuthClient(p)                     # Basic auth, as the client
    r = client.request("GET", "/shares")
    assert r.status_code == 200, r.text
    assert r.headers["X-Reason"] == "allowed"
    assert [s["name"] for s in r.json()["items"]] == ["claims"]
    assert upstream.requests()[-1]["headers"]["x-ds-recipient"] == \
        "fraud-analytics"


def test_oauth_profile_wrong_secret_gets_no_token(gw, idp, tmp_path):
    ng, _ = gw
    r = dsctl(*oauth_args(ng, idp, tmp_path, secret="not-it"))
    assert r.returncode == 0, r.stderr
    p = json.loads((tmp_path / "p.share").read_text())
    t = requests.post(p["tokenEndpoint"], timeout=10,
                      data={"grant_type": "client_credentials"},
                      auth=(p["clientId"], p["clientSecret"]))
    assert t.status_code == 401


def test_oauth_profile_not_overwritten_without_force(gw, idp, tmp_path):
    ng, _ = gw
    path = tmp_path / "p.share"
    path.write_text("keep me")
    r = dsctl(*oauth_args(ng, idp, tmp_path))
    assert r.returncode == 2
    assert "--force" in r.stderr
    assert path.read_text() == "keep me"

    os.chmod(path, 0o644)
    r = dsctl(*oauth_args(ng, idp, tmp_path, extra=["--force"]))
    assert r.returncode == 0, r.stderr
    assert json.loads(path.read_text())["clientSecret"] == SECRET
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_oauth_profile_usage_errors(tmp_path):
    sf = tmp_path / "secret"
    sf.write_text("hunter2-secret\n")
    base = {"--endpoint": "https://gw.example/delta-sharing/",
            "--token-endpoint": "https://idp.example/token",
            "--client-id": "c1", "--client-secret-file": str(sf),
            "--out": str(tmp_path / "x.share")}

    def run(change=None, drop=None, extra=()):
        o = dict(base, **(change or {}))
        if drop:
            del o[drop]
        args = ["profile", "oauth"]
        for k, v in o.items():
            args += [k, v]
        return dsctl(*(args + list(extra)))

    cases = [
        (dict(drop="--endpoint"), "--endpoint is required"),
        (dict(drop="--token-endpoint"), "--token-endpoint is required"),
        (dict(drop="--client-id"), "--client-id is required"),
        (dict(drop="--client-secret-file"),
         "--client-secret-file is required"),
        (dict(drop="--out"), "--out is required"),
        (dict(change={"--client-id": ""}), "--client-id: empty"),
        (dict(change={"--endpoint": "http://gw.example/ds/"}),
         "--insecure-http"),
        (dict(change={"--token-endpoint": "ftp://idp.example/t"}),
         "https:// URL is required"),
        (dict(change={"--endpoint": "https:///nohost"}), "no host"),
        (dict(change={"--client-secret-file": str(tmp_path / "nope")}),
         "No such file"),
        (dict(extra=["--issuer", "https://idp.example"]),
         "for private-key-jwt"),
        (dict(extra=["--bogus", "1"]), "unknown option"),
    ]
    for kw, msg in cases:
        r = run(**kw)
        assert r.returncode == 2, (kw, r.stdout, r.stderr)
        assert msg in r.stderr, (kw, r.stderr)
        assert "hunter2" not in r.stdout + r.stderr
        assert not (tmp_path / "x.share").exists(), kw

    for bad in ["", "\n", "two\nlines\n"]:
        sf.write_text(bad)
        r = run()
        assert r.returncode == 2, (bad, r.stderr)
        assert "--client-secret-file" in r.stderr
        assert not (tmp_path / "x.share").exists()

    r = dsctl("profile", "nonsense")
    assert r.returncode == 2
    assert "usage: dsctl profile oauth" in r.stderr
    r = dsctl("profile", "--help")
    assert r.returncode == 0
    assert "private-key-jwt" in r.stdout
    assert "profile oauth" in dsctl("--help").stdout


def keypair(tmp_path):
    k = jwk.JWK.generate(kty="RSA", size=2048, kid="pk-1")
    pem = tmp_path / "client-key.pem"
    pem.write_bytes(k.export_to_pem(private_key=True, password=None))
    return k, pem


def test_private_key_jwt_profile_drives_the_flow(gw, idp, tmp_path,
                                                 upstream, monkeypatch):
    ng, _ = gw
    k, pem = keypair(tmp_path)
    idp.add_client("pkjwt-client",
                   public_jwk=jwk.JWK(**json.loads(k.export_public())))
    out = tmp_path / "pk.share"
    monkeypatch.chdir(tmp_path)     # a relative path is made absolute
    r = dsctl("profile", "private-key-jwt", "--endpoint", ng.url(PREFIX),
              "--token-endpoint", idp.token_endpoint,
              "--client-id", "pkjwt-client", "--issuer", idp.issuer,
              "--audience", "delta-sharing",
              "--private-key-file", "client-key.pem", "--key-id", "pk-1",
              "--scope", "delta-sharing", "--out", str(out),
              "--insecure-http")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    p = json.loads(out.read_text())
    assert p["shareCredentialsVersion"] == 2
    assert p["type"] == "oauth_jwt_bearer_private_key_jwt"
    a = p["auth"]
    assert a == {"tokenEndpoint": idp.token_endpoint,
                 "issuer": idp.issuer, "clientId": "pkjwt-client",
                 "audience": "delta-sharing", "scope": "delta-sharing",
                 "privateKey": {"privateKeyFile": str(pem),  # absolute
                                "keyId": "pk-1", "algorithm": "RS256"}}
    assert "BEGIN" not in out.read_text()       # a path, not the key

    # the python client's PrivateKeyOAuthClient, from the profile alone
    pk = a["privateKey"]
    key = jwk.JWK.from_pem(open(pk["privateKeyFile"], "rb").read())
    now = int(time.time())
    t = jwt.JWT(header={"alg": pk["algorithm"], "kid": pk["keyId"]},
                claims={"aud": a["issuer"], "iss": a["clientId"],
                        "iat": now, "exp": now + 120,
                        "jti": str(uuid.uuid4()), "scope": a["scope"],
                        "resource": a["audience"]})
    t.make_signed_token(key)
    tok = requests.post(a["tokenEndpoint"], timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": t.serialize()})
    assert tok.status_code == 200, tok.text
    assert idp.assertions[-1]["iss"] == "pkjwt-client"

    r = get(ng, tok.json()["access_token"])
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["items"]] == ["claims"]
    assert upstream.requests()[-1]["headers"]["x-ds-jwt-subject"] == \
        "pkjwt-client"


def test_private_key_jwt_usage_errors(tmp_path):
    _, pem = keypair(tmp_path)
    notkey = tmp_path / "notkey.pem"
    notkey.write_text("hello\n")
    base = {"--endpoint": "https://gw.example/ds",
            "--token-endpoint": "https://idp.example/token",
            "--client-id": "c1", "--issuer": "https://idp.example",
            "--audience": "delta-sharing", "--private-key-file": str(pem),
            "--key-id": "k1", "--out": str(tmp_path / "x.share")}

    def run(change=None, drop=None):
        o = dict(base, **(change or {}))
        if drop:
            del o[drop]
        args = ["profile", "private-key-jwt"]
        for k, v in o.items():
            args += [k, v]
        return dsctl(*args)

    cases = [
        (dict(drop="--issuer"), "--issuer is required"),
        (dict(drop="--audience"), "--audience is required"),
        (dict(drop="--key-id"), "--key-id is required"),
        (dict(drop="--private-key-file"), "--private-key-file is required"),
        (dict(change={"--private-key-file": str(notkey)}),
         "not an unencrypted PEM private key"),
        (dict(change={"--private-key-file": str(tmp_path / "nope")}),
         "No such file"),
        (dict(change={"--algorithm": "HS256"}), "--algorithm HS256"),
        (dict(change={"--client-secret-file": str(notkey)}),
         "--client-secret-file is for oauth"),
        (dict(change={"--token-endpoint": "http://idp.example/t"}),
         "--insecure-http"),
    ]
    for kw, msg in cases:
        r = run(**kw)
        assert r.returncode == 2, (kw, r.stdout, r.stderr)
        assert msg in r.stderr, (kw, r.stderr)
        assert not (tmp_path / "x.share").exists(), kw

    # the key must be one the algorithm signs with
    r = run(change={"--algorithm": "ES256"})
    assert r.returncode == 2
    assert "not a key for ES256" in r.stderr
    ec = tmp_path / "ec.pem"
    ec.write_bytes(jwk.JWK.generate(kty="EC", crv="P-256").export_to_pem(
        private_key=True, password=None))
    r = run(change={"--algorithm": "ES384", "--private-key-file": str(ec)})
    assert r.returncode == 2
    assert "not a key for ES384" in r.stderr
    small = tmp_path / "small.pem"
    small.write_bytes(jwk.JWK.generate(kty="RSA", size=1024)
                      .export_to_pem(private_key=True, password=None))
    r = run(change={"--private-key-file": str(small)})
    assert r.returncode == 2
    assert "2048 bits" in r.stderr
    assert not (tmp_path / "x.share").exists()

    r = run(change={"--algorithm": "ES256", "--private-key-file": str(ec)})
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "x.share").read_text())["auth"][
        "privateKey"]["algorithm"] == "ES256"
