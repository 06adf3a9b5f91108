"""File proxy mode under configurations that could let a download
through unchecked (docs/dataplane.md, "Configurations"): a rewrite-phase
answer or redirect in the download location, an error_page that sends a
denied download to a location serving the store, and a proxy_cache that
could hand a stored object to a link that is no longer good. Real nginx,
the loopback object store, real redis for revocation."""

import os

import requests

from conftest import dsctl, wait_for
from test_files import (FILES, OBJ, assert_no_store_detail, keys, records,
                        seal)
from test_ratelimit import redis_conf

DATA = os.urandom(64 * 1024 + 3)

assert keys  # the fixture, imported for pytest


def files_location(tmp_path, body):
    audit = str(tmp_path / "files-audit.log")
    return audit, """
        location %s {
            ds_files on;
            ds_audit_log %s;
%s
        }
""" % (FILES, audit, body)


def start(nginx, tmp_path, keys, body, http_extra="", server_extra=""):
    audit, loc = files_location(tmp_path, body)
    http = "    ds_files_key k1 %s;\n" % keys["k1"]
    ng = nginx(http_extra=http + http_extra, server_extra=server_extra + loc)
    ng.audit = audit
    return ng


def get(ng, cap, **headers):
    return requests.get(ng.url(FILES + cap), headers=headers, timeout=10)


def test_rewrite_phase_answers_never_pass(nginx, tmp_path, keys, store):
    """A `return` or a `rewrite ... last` runs before the capability is
    opened: neither may answer for the link."""
    store.put(OBJ.lstrip("/"), DATA)
    cap = seal(keys, store.url(OBJ))
    ng = start(nginx, tmp_path, keys, """
            if ($arg_x = ret) { return 200 "unchecked"; }
            if ($arg_x = raw) { rewrite ^ /raw%s last; }
            proxy_pass $ds_file_url;""" % OBJ,
               server_extra="""
        location /raw/ {
            proxy_pass %s/;
        }
""" % store.url("").rstrip("/"))

    assert get(ng, cap).content == DATA              # the control
    r = requests.get(ng.url(FILES + cap + "?x=ret"), timeout=10)
    assert r.status_code == 500, r.text
    assert r.json()["errorCode"] == "INTERNAL_ERROR"
    assert "unchecked" not in r.text
    wait_for(lambda: records(ng) and records(ng)[-1]["reason"]
             == "not_checked", what="the not_checked record")

    # moved out of the download location before the check: ended before
    # the other location's proxy_pass, the store never asked
    before = len(store.requests())
    r = requests.get(ng.url(FILES + cap + "?x=raw"), timeout=10)
    assert r.status_code == 500, r.status_code
    assert r.content != DATA and r.json()["errorCode"] == "INTERNAL_ERROR"
    assert_no_store_detail(r)
    wait_for(lambda: len(records(ng)) >= 3, what="the third record")
    assert records(ng)[-1]["reason"] == "not_checked"
    assert records(ng)[-1]["decision"] == "error"
    assert len(store.requests()) == before
    assert "out of an enforced location before its check" in ng.log_since()


def test_error_page_cannot_serve_a_denied_download(nginx, tmp_path, keys,
                                                   store):
    """A denied link answered through error_page into a location that
    proxies the store directly still ends as our JSON error."""
    store.put(OBJ.lstrip("/"), DATA)
    good = seal(keys, store.url(OBJ))
    bad = seal(keys, store.url(OBJ), ("k1",), "nobody-here")
    ng = start(nginx, tmp_path, keys, """
            error_page 401 403 404 500 503 = /raw%s;
            proxy_pass $ds_file_url;""" % OBJ,
               server_extra="""
        location /raw/ {
            proxy_pass %s/;
        }
""" % store.url("").rstrip("/"))

    assert get(ng, good).content == DATA
    for cap in (bad, good[:-4] + "AAAA", "not-a-capability"):
        r = get(ng, cap)
        assert r.status_code in (401, 403, 404), (r.status_code, r.text)
        assert r.content != DATA
        assert r.json()["errorCode"] in ("UNAUTHENTICATED",
                                         "PERMISSION_DENIED",
                                         "RESOURCE_DOES_NOT_EXIST")
        assert_no_store_detail(r)


def test_proxy_cache_rechecks_every_link(nginx, tmp_path, keys, store,
                                         redis):
    """The capability is checked in the access phase, before nginx looks
    into its cache: a cached object never answers a revoked recipient,
    and a cache hit is audited like a download."""
    store.put(OBJ.lstrip("/"), DATA)
    cap = seal(keys, store.url(OBJ))
    cache = tmp_path / "cache"
    cache.mkdir()
    ng = start(nginx, tmp_path, keys, """
            proxy_cache dsc;
            proxy_cache_valid 200 10m;
            proxy_ignore_headers Cache-Control Expires Set-Cookie;
            add_header X-Cache $upstream_cache_status always;
            proxy_pass $ds_file_url;""",
               http_extra=redis_conf(redis)
               + "    proxy_cache_path %s keys_zone=dsc:1m;\n" % cache)

    r1 = get(ng, cap)
    assert r1.status_code == 200 and r1.content == DATA
    store_hits = len(store.requests())
    r2 = get(ng, cap)
    assert r2.status_code == 200 and r2.content == DATA
    assert r2.headers.get("X-Cache") == "HIT", r2.headers
    assert len(store.requests()) == store_hits       # really the cache

    r = dsctl("revoke", "recipient", "fraud-analytics",
              "--redis", "127.0.0.1:%d" % redis.port)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: get(ng, cap).status_code == 403, timeout=2,
             interval=0.05, what="the revocation to end the cached link")
    r = get(ng, cap)
    assert r.content != DATA and r.json()["errorCode"] == "PERMISSION_DENIED"
    assert "X-Cache" not in r.headers or r.headers["X-Cache"] != "HIT"

    wait_for(lambda: len(records(ng)) >= 3, what="audit records")
    recs = records(ng)
    assert recs[1]["decision"] == "allow"            # the cache hit
    assert recs[1]["body_bytes_sent"] == len(DATA)
    assert recs[-1]["reason"] == "recipient_revoked"
