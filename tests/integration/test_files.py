"""File proxy mode, the download location (docs/dataplane.md): links built
with the product's own sealing (`dsctl files seal`, the same core as the
gateway's), real nginx streaming real bytes from the loopback object store
(tests/upstream/ds_store.py), real redis for revocation, the test MMDB and
realip for the downloader's country."""

import json
import os
import time

import pytest
import requests

from conftest import (PREFIX, dsctl, iso, make_policy, sha256_hex, TOKENS,
                      wait_for)
from test_ratelimit import redis_conf

FILES = PREFIX + "/_files/"
OBJ = "/claims/adjudicated/medical_claims/part-00001-abc.c000.snappy.parquet"
DATA = os.urandom(300 * 1024 + 17)

REALIP = """
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;"""

LOCATION = """
        location %s {
            ds_files on;
            ds_audit_log %s;
            proxy_pass $ds_file_url;
            proxy_buffering off;
        }
"""


@pytest.fixture
def keys(tmp_path):
    out = {}
    for kid in ("k1", "k2", "other"):
        path = str(tmp_path / ("%s.key" % kid))
        r = dsctl("files", "keygen", "--out", path)
        assert r.returncode == 0, r.stderr
        assert os.stat(path).st_mode & 0o777 == 0o600
        out[kid] = path
    return out


def seal(keys, url, ring=("k1",), recipient="fraud-analytics",
         token="fa-1", share="claims", schema="adjudicated",
         table="medical_claims", file_id="file-0001", *extra):
    args = ["files", "seal"]
    for kid in ring:
        args += ["--key", "%s=%s" % (kid, keys[kid])]
    args += ["--recipient", recipient, "--token-id", token, "--share", share,
             "--schema", schema, "--table", table, "--file-id", file_id]
    args += list(extra) + [url]
    r = dsctl(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def files_nginx(nginx, tmp_path, keys, ring=("k1",), policy=None,
                http_extra="", server_extra=""):
    audit = str(tmp_path / "files-audit.log")
    http = "".join("    ds_files_key %s %s;\n" % (k, keys[k]) for k in ring)
    ng = nginx(policy=policy, http_extra=http + http_extra,
               server_extra=server_extra + LOCATION % (FILES, audit))
    ng.audit = audit
    return ng


def records(ng):
    if not os.path.exists(ng.audit):
        return []
    with open(ng.audit) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    return [x for x in recs if x.get("type") == "request"]


def get(ng, cap, method="GET", **headers):
    return requests.request(method, ng.url(FILES + cap), headers=headers,
                            timeout=10)


def assert_no_store_detail(r):
    for h in r.headers:
        assert not h.lower().startswith("x-amz"), h
    assert "Set-Cookie" not in r.headers
    assert r.headers.get("Server", "").startswith("nginx")
    for word in ("nw-health", "AmazonS3", "<Error>", "s3://", "Signature"):
        assert word not in r.text


def test_download_byte_identical(nginx, tmp_path, keys, store):
    store.put(OBJ.lstrip("/"), DATA)
    url = store.url(OBJ)
    ng = files_nginx(nginx, tmp_path, keys)
    cap = seal(keys, url)

    # the link is opaque: nothing of the cloud URL shows
    assert "claims" not in cap and "Signature" not in cap
    assert "127.0.0.1" not in cap

    direct = requests.get(url, timeout=10)
    assert direct.status_code == 200 and direct.content == DATA

    r = get(ng, cap)
    assert r.status_code == 200, r.text
    assert r.content == DATA
    assert r.headers["ETag"] == direct.headers["ETag"]
    assert r.headers["Last-Modified"] == direct.headers["Last-Modified"]
    assert r.headers["Content-Length"] == str(len(DATA))
    assert_no_store_detail(r)

    # parquet readers: the footer by suffix range, then a column chunk
    for rng, part, crange in [
            ("bytes=-8", DATA[-8:], "bytes %d-%d/%d"
             % (len(DATA) - 8, len(DATA) - 1, len(DATA))),
            ("bytes=1000-4999", DATA[1000:5000],
             "bytes 1000-4999/%d" % len(DATA)),
            ("bytes=307000-", DATA[307000:],
             "bytes 307000-%d/%d" % (len(DATA) - 1, len(DATA)))]:
        d = requests.get(url, headers={"Range": rng}, timeout=10)
        r = get(ng, cap, Range=rng)
        assert r.status_code == 206 == d.status_code
        assert r.content == part == d.content
        assert r.headers["Content-Range"] == crange
        assert_no_store_detail(r)

    r = get(ng, cap, Range="bytes=%d-" % (len(DATA) + 10))
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */%d" % len(DATA)

    r = get(ng, cap, "HEAD")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(DATA))
    assert r.content == b""
    # the store logs a request after answering it: wait, do not race
    wait_for(lambda: store.requests()[-1]["method"] == "HEAD",
             what="the HEAD in the store's log")

    # one audit record per download, without the link itself
    wait_for(lambda: len(records(ng)) >= 6, what="audit records")
    recs = records(ng)
    for rec in recs:
        assert rec["operation"] == "file_download"
        assert rec["recipient"] == "fraud-analytics"
        assert rec["token_id"] == "fa-1"
        assert rec["table"] == "medical_claims"
        assert rec["file"]["id"] == "file-0001"
        assert rec["path"] == FILES
        assert cap not in json.dumps(rec)
    assert recs[0]["decision"] == "allow"
    assert recs[0]["body_bytes_sent"] == len(DATA)
    assert recs[0]["file"]["range"] is None
    assert recs[1]["file"]["range"] == "bytes=-8"
    assert recs[1]["status"] == 206
    assert recs[1]["body_bytes_sent"] == 8


def test_store_failures_never_pass(nginx, tmp_path, keys, store):
    store.put(OBJ.lstrip("/"), DATA)
    ng = files_nginx(nginx, tmp_path, keys)

    bad_sig = store.url(OBJ).replace("X-DS-Signature=", "X-DS-Signature=0")
    for url in (bad_sig, store.url("/_fail/500"), store.url("/_fail/503"),
                store.url("/no/such/key.parquet")):
        direct = requests.get(url, timeout=10)
        assert direct.status_code in (403, 404, 500, 503)
        assert "nw-health" in direct.text          # the store tells all

        r = get(ng, seal(keys, url))
        assert r.status_code == 502, (url, r.status_code)
        assert r.json() == {"errorCode": "TEMPORARILY_UNAVAILABLE",
                            "message": "The file could not be fetched from "
                                       "storage; retry later"}
        assert_no_store_detail(r)

    wait_for(lambda: len(records(ng)) >= 4, what="audit records")
    for rec in records(ng):
        assert rec["decision"] == "error"
        assert rec["reason"] == "file_store_error"
        assert rec["status"] == 502


def test_bad_links_refused(nginx, tmp_path, keys, store):
    store.put(OBJ.lstrip("/"), DATA)
    url = store.url(OBJ)
    ng = files_nginx(nginx, tmp_path, keys)
    good = seal(keys, url)
    assert get(ng, good).status_code == 200
    before = len(store.requests())

    mid = len(good) // 2
    tampered = good[:mid] + ("A" if good[mid] != "A" else "B") + good[mid + 1:]
    foreign = seal(keys, url, ("other",))
    expired = seal(keys, url, ("k1",), "fraud-analytics", "fa-1", "claims",
                   "adjudicated", "medical_claims", "file-0001",
                   "--expires", iso(time.time() - 5))

    for cap, status, reason in [
            (tampered, 404, "file_link_invalid"),
            (foreign, 404, "file_link_invalid"),
            ("not-a-capability", 404, "file_link_invalid"),
            ("A" * 7000, 404, "file_link_invalid"),
            (expired, 410, "file_link_expired")]:
        r = get(ng, cap)
        assert r.status_code == status, (reason, r.text)
        assert r.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"

    r = requests.post(ng.url(FILES + good), timeout=10)
    assert r.status_code == 405

    # nothing reached the store
    assert len(store.requests()) == before

    wait_for(lambda: len(records(ng)) >= 7, what="audit records")
    recs = records(ng)[1:]
    assert [x["reason"] for x in recs[:5]] == \
        ["file_link_invalid"] * 4 + ["file_link_expired"]
    assert all(x["decision"] == "deny" for x in recs)
    # an expired link still says whose it was
    assert recs[4]["recipient"] == "fraud-analytics"
    assert recs[4]["file"]["id"] == "file-0001"


def test_key_rotation(nginx, tmp_path, keys, store):
    store.put(OBJ.lstrip("/"), DATA)
    url = store.url(OBJ)
    ng = files_nginx(nginx, tmp_path, keys, ("k1",))
    old = seal(keys, url, ("k1",))
    assert get(ng, old).status_code == 200

    # a new first key: new links under k2, old k1 links still open
    audit = ng.audit
    ng.write_conf(ng.render(
        http_extra="    ds_files_key k2 %s;\n    ds_files_key k1 %s;\n"
                   % (keys["k2"], keys["k1"]),
        server_extra=LOCATION % (FILES, audit)))
    assert ng.reload()
    new = seal(keys, url, ("k2", "k1"))
    assert new[:6] != old[:6]            # another key id in clear
    assert get(ng, old).content == DATA
    assert get(ng, new).content == DATA

    # k1 retired: its links end, k2's live on
    ng.write_conf(ng.render(
        http_extra="    ds_files_key k2 %s;\n" % keys["k2"],
        server_extra=LOCATION % (FILES, audit)))
    assert ng.reload()
    assert get(ng, old).status_code == 404
    assert get(ng, new).status_code == 200


def test_revoke_ends_issued_links(nginx, tmp_path, keys, store, redis):
    store.put(OBJ.lstrip("/"), DATA)
    ng = files_nginx(nginx, tmp_path, keys, http_extra=redis_conf(redis))
    cap = seal(keys, store.url(OBJ))
    assert get(ng, cap).status_code == 200

    r = dsctl("revoke", "recipient", "fraud-analytics",
              "--redis", "127.0.0.1:%d" % redis.port)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: get(ng, cap).status_code == 403, timeout=1,
             interval=0.05, what="the revocation to end the link")
    r = get(ng, cap)
    assert r.json()["errorCode"] == "PERMISSION_DENIED"
    assert_no_store_detail(r)

    wait_for(lambda: records(ng)[-1]["reason"] == "recipient_revoked",
             what="the audit record")

    r = dsctl("unrevoke", "recipient", "fraud-analytics",
              "--redis", "127.0.0.1:%d" % redis.port)
    assert r.returncode == 0
    wait_for(lambda: get(ng, cap).status_code == 200, timeout=1,
             interval=0.05, what="the revocation to be lifted")


def test_redis_down_fails_closed(nginx, tmp_path, keys, store, redis):
    store.put(OBJ.lstrip("/"), DATA)
    ng = files_nginx(nginx, tmp_path, keys, http_extra=redis_conf(redis))
    cap = seal(keys, store.url(OBJ))
    assert get(ng, cap).status_code == 200
    redis.stop()
    r = get(ng, cap)
    assert r.status_code == 503
    assert r.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE"


def test_contract_ends_mid_way(nginx, tmp_path, keys, store):
    store.put(OBJ.lstrip("/"), DATA)
    pol = make_policy()
    end = time.time() + 3
    pol["recipients"][0]["contract"]["valid_until"] = iso(end)
    ng = files_nginx(nginx, tmp_path, keys, policy=pol)
    cap = seal(keys, store.url(OBJ), ("k1",), "fraud-analytics", "fa-1",
               "claims", "adjudicated", "medical_claims", "file-0001",
               "--ttl", "1h")
    assert get(ng, cap).status_code == 200

    # the link lives for an hour; the contract does not
    wait_for(lambda: time.time() > end + 1.05, timeout=6, what="the end")
    r = get(ng, cap)
    assert r.status_code == 403
    assert "agreement has ended" in r.json()["message"]
    wait_for(lambda: records(ng)[-1]["reason"] == "contract_expired",
             what="the audit record")


def test_downloader_country(nginx, tmp_path, keys, store, mmdb):
    store.put(OBJ.lstrip("/"), DATA)
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["countries"] = {"allow": ["US", "DE"]}
    ng = files_nginx(nginx, tmp_path, keys, policy=pol,
                     http_extra="    ds_geoip_db %s;\n" % mmdb,
                     server_extra=REALIP)
    cap = seal(keys, store.url(OBJ))

    assert get(ng, cap, **{"X-Forwarded-For": "192.0.2.10"}).content == DATA
    assert get(ng, cap, **{"X-Forwarded-For": "198.51.100.7"}
               ).status_code == 200
    before = len(store.requests())

    # a valid link, downloaded from a denied country
    r = get(ng, cap, **{"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 403
    assert r.json()["message"] == "Access from country CN is not permitted"
    r = get(ng, cap, **{"X-Forwarded-For": "127.0.4.1"})
    assert r.status_code == 403
    assert len(store.requests()) == before

    wait_for(lambda: len(records(ng)) >= 4, what="audit records")
    recs = records(ng)
    assert [x["country"] for x in recs] == ["US", "DE", "CN", None]
    assert recs[2]["reason"] == "country_denied"


def test_policy_rechecked_live(nginx, tmp_path, keys, store):
    store.put(OBJ.lstrip("/"), DATA)
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["purposes"] = ["FRAUD"]
    ng = files_nginx(nginx, tmp_path, keys, policy=pol)
    url = store.url(OBJ)
    ok = seal(keys, url, ("k1",), "fraud-analytics", "fa-1", "claims",
              "adjudicated", "medical_claims", "f", "--purpose", "FRAUD")
    assert get(ng, ok).status_code == 200

    for cap, reason in [
            (seal(keys, url, ("k1",), "fraud-analytics", "fa-1", "claims",
                  "adjudicated", "medical_claims", "f", "--purpose", "TREAT"),
             "purpose_denied"),
            (seal(keys, url, ("k1",), "fraud-analytics", "fa-1",
                  "provider_directory", "public", "t", "f",
                  "--purpose", "FRAUD"), "not_entitled"),
            (seal(keys, url, ("k1",), "fraud-analytics", "fa-expired",
                  "claims", "adjudicated", "medical_claims", "f",
                  "--purpose", "FRAUD"), "token_expired"),
            # a link naming another recipient than its token's
            (seal(keys, url, ("k1",), "distribution-partner", "fa-1",
                  "claims", "adjudicated", "medical_claims", "f",
                  "--purpose", "FRAUD"), "file_link_invalid")]:
        r = get(ng, cap)
        assert r.status_code in (403, 404), (reason, r.status_code)
        assert "WWW-Authenticate" not in r.headers
        wait_for(lambda: records(ng)[-1]["reason"] == reason,
                 what="reason %s" % reason)

    # suspended since the link was handed out: a policy reload
    pol["recipients"][0]["status"] = "suspended"
    with open(ng.policy_path, "w") as f:
        json.dump(pol, f)
    assert ng.reload()
    r = get(ng, ok)
    assert r.status_code == 403
    assert "suspended" in r.json()["message"]


@pytest.mark.parametrize("extra,content,message", [
    ("ds_files_key k1 {missing};", None, "cannot open"),
    ("ds_files_key k1 {bad};", "0011zz", "32 bytes"),
    ("ds_files_key k1 {good};\n    ds_files_key k1 {good};", None,
     "duplicate key id"),
    ("ds_files_key bad.id {good};", None, "key id of 1 to 16"),
    ("ds_files_max_ttl 0;\n    ds_files_key k1 {good};", None,
     "ds_files_max_ttl"),
    ("", None, "requires \"ds_files_key\""),
])
def test_config_errors(nginx, tmp_path, keys, extra, content, message,
                       request):
    request.node.allow_log = (message,)
    bad = str(tmp_path / "bad.key")
    with open(bad, "w") as f:
        f.write(content or "short")
    http = "    " + extra.format(missing=str(tmp_path / "nope.key"), bad=bad,
                                 good=keys["k1"]) + "\n"
    ng = nginx(start=False, http_extra=http,
               server_extra="        location /f/ { ds_files on; "
                            "proxy_pass $ds_file_url; }\n")
    rc, out = ng.test_config()
    assert rc != 0
    assert message in out, out
    # a key is never echoed
    assert open(keys["k1"]).read().strip() not in out


def test_dsctl_files_usage(tmp_path):
    out = str(tmp_path / "k.key")
    assert dsctl("files", "keygen", "--out", out).returncode == 0
    text = open(out).read().strip()
    assert len(text) == 64 and int(text, 16) >= 0
    # never overwritten
    r = dsctl("files", "keygen", "--out", out)
    assert r.returncode == 2 and "not overwritten" in r.stderr
    assert open(out).read().strip() == text
    assert dsctl("files", "seal", "--key", "k=" + out, "x").returncode == 2
    assert dsctl("files", "nope").returncode == 2
