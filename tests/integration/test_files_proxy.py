"""File proxy mode end to end (docs/dataplane.md): a query through the real
gateway hands out gateway links instead of the object store's pre-signed
URLs; those links download the very bytes the store holds, through the
same live checks as API calls; revocation ends links already handed out.

The upstream here (store_upstream) points its file URLs at the loopback
object store (tests/upstream/ds_store.py), so a direct download of the
upstream's own answer is the reference the gateway's downloads must
equal."""

import json
import os

import requests

from conftest import PREFIX, UPSTREAM_TOKEN, bearer, dsctl, wait_for
from test_files import keys  # noqa: F401  (fixture: dsctl files keygen)
from test_ratelimit import redis_conf

TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
FILES = PREFIX + "/_files/"


def proxy_nginx(nginx, tmp_path, keys, store_upstream, http_extra=""):
    audit = str(tmp_path / "audit.log")
    ng = nginx(start=False, upstream_port=store_upstream.port,
               http_extra=("    ds_files_key k1 %s;\n    ds_audit_log %s;\n"
                           % (keys["k1"], audit)) + http_extra,
               location_extra=(
                   "            proxy_set_header Accept-Encoding \"\";\n"
                   "            ds_files_proxy http://$host:$server_port"
                   "%s;\n" % FILES),
               server_extra=("        location %s {\n"
                             "            ds_files on;\n"
                             "            proxy_pass $ds_file_url;\n"
                             "        }\n" % FILES))
    ng.start()
    ng.audit = audit
    return ng


def records(ng, n):
    def enough():
        return os.path.exists(ng.audit) and len(requests_of(ng)) >= n
    wait_for(enough, what="%d audit records" % n)
    return requests_of(ng)


def requests_of(ng):
    with open(ng.audit) as f:
        return [json.loads(x) for x in f if '"type":"request"' in x]


def files_of(body):
    out = {}
    for line in body.decode().splitlines():
        obj = json.loads(line)
        if "file" in obj:
            out[obj["file"]["id"]] = obj["file"]
    return out


def direct_files(store_upstream):
    r = requests.post(store_upstream.url(TABLE + "/query"), json={},
                      headers={"Authorization": "Bearer " + UPSTREAM_TOKEN},
                      timeout=10)
    assert r.status_code == 200
    return files_of(r.content)


def test_links_are_the_gateways_and_download_the_same_bytes(
        nginx, tmp_path, keys, store, store_upstream):
    ng = proxy_nginx(nginx, tmp_path, keys, store_upstream)
    r = requests.post(ng.url(TABLE + "/query"), json={},
                      headers=bearer("fraud"), timeout=10)
    assert r.status_code == 200, r.text
    got = files_of(r.content)
    want = direct_files(store_upstream)
    assert set(got) == set(want) and len(got) == 3

    # the partner never sees the store's URL or its signature
    assert store.base.encode() not in r.content
    assert b"X-Sig" not in r.content and b"sig=" not in r.content

    for fid, f in got.items():
        assert f["url"].startswith(ng.url(FILES)), f["url"]
        assert f["expirationTimestamp"] <= want[fid]["expirationTimestamp"]
        mine = requests.get(f["url"], timeout=10)
        theirs = requests.get(want[fid]["url"], timeout=10)
        assert theirs.status_code == 200
        assert mine.status_code == 200, mine.text
        assert mine.content == theirs.content and len(mine.content) > 0

        part = requests.get(f["url"], headers={"Range": "bytes=-8"},
                            timeout=10)
        assert part.status_code == 206
        assert part.content == theirs.content[-8:]

    # one query record (proxied) and one record per download
    recs = records(ng, 1 + 2 * len(got))
    q = recs[0]
    assert q["operation"] == "query_table"
    assert q["disclosure"]["proxied"] is True
    assert q["disclosure"]["files"] == 3
    downloads = [x for x in recs[1:] if x.get("file")]
    assert {x["file"]["id"] for x in downloads} == set(got)
    assert all(x["recipient"] == "fraud-analytics" for x in downloads)

    # the report sums what left through the gateway, per recipient and table
    sent = sum(x["bytes_sent"] for x in downloads)
    body = sum(len(requests.get(want[fid]["url"], timeout=10).content)
               for fid in got)
    assert sent > body + 8 * len(got)      # the bodies plus headers
    r = dsctl("audit", "report", ng.audit)
    assert r.returncode == 0, r.stderr
    assert "downloaded: %d files, %d bytes" % (len(downloads), sent) \
        in r.stdout, r.stdout
    r = dsctl("audit", "report", ng.audit, "--format", "csv")
    head, *rows = r.stdout.splitlines()
    cols = head.split(",")
    assert cols[-2:] == ["downloads", "download_bytes"]
    table = [x for x in rows if x.startswith("dataset,")]
    assert len(table) == 1 and table[0].endswith(",%d,%d" % (len(downloads),
                                                              sent))


def test_no_directory_access_in_file_proxy_mode(nginx, tmp_path, keys,
                                                store_upstream):
    ng = proxy_nginx(nginx, tmp_path, keys, store_upstream)
    r = requests.get(ng.url(TABLE + "/metadata"), headers=bearer("fraud"),
                     timeout=10)
    assert r.status_code == 200
    md = [json.loads(x) for x in r.text.splitlines()][1]["metaData"]
    assert md["accessModes"] == ["url"]

    # the upstream's own metadata offers both modes: the gateway removed "dir"
    r = requests.get(store_upstream.url(TABLE + "/metadata"),
                     headers={"Authorization": "Bearer " + UPSTREAM_TOKEN},
                     timeout=10)
    theirs = [json.loads(x) for x in r.text.splitlines()][1]["metaData"]
    assert "dir" in theirs.get("accessModes", [])


def test_temporary_credentials_refused_even_when_granted(nginx, tmp_path,
                                                         keys,
                                                         store_upstream):
    from conftest import make_policy
    pol = make_policy()
    pol["recipients"][0]["grants"][0]["operations"] = [
        "read", "temporary_table_credentials"]
    ng = nginx(policy=pol, upstream_port=store_upstream.port,
               http_extra="    ds_files_key k1 %s;" % keys["k1"],
               location_extra="            ds_files_proxy "
                              "https://gw.example/delta-sharing/_files/;")
    r = requests.post(ng.url(TABLE + "/temporary-table-credentials"),
                      json={}, headers=bearer("fraud"), timeout=10)
    assert r.status_code == 403, r.text
    assert r.json()["errorCode"] == "PERMISSION_DENIED"
    assert "secretAccessKey" not in r.text

    # the same policy without file proxy mode hands them out
    ng2 = nginx(policy=pol, upstream_port=store_upstream.port)
    r = requests.post(ng2.url(TABLE + "/temporary-table-credentials"),
                      json={}, headers=bearer("fraud"), timeout=10)
    assert r.status_code == 200


def test_revocation_ends_links_already_handed_out(nginx, tmp_path, keys,
                                                  store_upstream, redis):
    ng = proxy_nginx(nginx, tmp_path, keys, store_upstream,
                     http_extra=redis_conf(redis))
    r = requests.post(ng.url(TABLE + "/query"), json={},
                      headers=bearer("fraud"), timeout=10)
    link = next(iter(files_of(r.content).values()))["url"]
    assert requests.get(link, timeout=10).status_code == 200

    out = dsctl("revoke", "recipient", "fraud-analytics", "--redis",
                "127.0.0.1:%d" % redis.port, "--audit", ng.audit)
    assert out.returncode == 0, out.stderr
    assert "gateway capabilities" in out.stdout
    wait_for(lambda: requests.get(link, timeout=10).status_code == 403,
             timeout=1, interval=0.05, what="the link to be refused")


def test_exposure_of_cloud_urls_printed_on_revoke(nginx, tmp_path, redis):
    """Without file proxy mode the links outlive the revocation: dsctl
    says until when."""
    audit = str(tmp_path / "audit.log")
    ng = nginx(http_extra="    ds_audit_log %s;\n" % audit
               + redis_conf(redis))
    r = requests.post(ng.url(TABLE + "/query"), json={},
                      headers=bearer("fraud"), timeout=10)
    assert r.status_code == 200
    wait_for(lambda: os.path.exists(audit) and os.path.getsize(audit) > 0,
             what="audit")
    out = dsctl("revoke", "token", "fa-1", "--recipient", "fraud-analytics", "--redis",
                "127.0.0.1:%d" % redis.port, "--audit", audit)
    assert out.returncode == 0, out.stderr
    assert "exposure: 1 answer(s) handed cloud URLs to token fa-1" \
        in out.stdout
    out = dsctl("revoke", "token", "nobody", "--recipient", "fraud-analytics", "--redis",
                "127.0.0.1:%d" % redis.port, "--audit", audit)
    assert "no answer in the audit handed files to token nobody" \
        in out.stdout


def test_files_proxy_needs_a_key(nginx, request):
    request.node.allow_log = ("[emerg]",)
    ng = nginx(start=False, location_extra="            ds_files_proxy "
               "https://gw.example/delta-sharing/_files/;")
    rc, out = ng.test_config()
    assert rc != 0
    assert '"ds_files_proxy" requires "ds_files_key"' in out

    for bad, msg in [("gw.example/x/", "absolute URL"),
                     ("https://gw.example/x", 'must end with "/"')]:
        ng = nginx(start=False, location_extra="            ds_files_proxy "
                   "%s;" % bad)
        rc, out = ng.test_config()
        assert rc != 0 and msg in out, out
