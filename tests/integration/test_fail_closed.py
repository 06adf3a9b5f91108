"""Fail closed: every answer out of an enforced location carries a
decision of ngx_ds or is a Delta Sharing error, whatever the client
sends, the upstream answers or the configuration around the check does
(issue #12). Each test here failed before the guard, the Range drop and
the header-time list refusal existed."""

import json
import socket
import time

import requests

from conftest import PREFIX, bearer, free_port

P = PREFIX + "/shares"
QUERY = P + "/claims/schemas/adjudicated/tables/medical_claims/query"
SECRET_SHARES = ("internal_finance", "provider_directory")


def records(path):
    with open(path, "rb") as f:
        return [json.loads(l) for l in f.read().splitlines()
                if json.loads(l).get("type") == "request"]


def audit_conf(path):
    return "    ds_audit_log %s;" % path


def assert_ds_error(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"errorCode", "message"}
    if code:
        assert body["errorCode"] == code
    return body


def raw(port, data, timeout=5):
    """Send bytes, return everything the server sent until it closed or
    went quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


# ------------------------------------------------------------ list leaks

def test_range_on_a_list_is_not_forwarded(nginx, upstream):
    upstream.mode(ranges=True)
    # the upstream really does answer ranges: without the gateway a
    # Range gets a 206 slice of the unfiltered list
    direct = requests.get(upstream.url(P), timeout=5, headers={
        "Authorization": "Bearer upstream-secret-0123456789",
        "Range": "bytes=0-4000"})
    assert direct.status_code == 206
    assert "internal_finance" in direct.text
    upstream.reset()
    upstream.mode(ranges=True)

    ng = nginx()
    for h in ({"Range": "bytes=0-4000"},
              {"Range": "bytes=0-4000", "If-Range": '"x"'}):
        h.update(bearer("fraud"))
        r = requests.get(ng.url(P), headers=h, timeout=5)
        assert r.status_code == 200, r.text
        assert [i["name"] for i in r.json()["items"]] == ["claims"]
        for name in SECRET_SHARES:
            assert name not in r.text
    seen = upstream.requests()
    assert len(seen) == 2
    for q in seen:
        assert "range" not in {k.lower() for k in q["headers"]}
        assert "if-range" not in {k.lower() for k in q["headers"]}


def test_a_partial_list_answer_is_never_passed(nginx, upstream, tmp_path):
    upstream.mode(list_body="partial")
    log = str(tmp_path / "audit.log")
    ng = nginx(http_extra=audit_conf(log))
    r = requests.get(ng.url(P), headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 502, "INTERNAL_ERROR")
    for name in SECRET_SHARES + ("claims",):
        assert name not in r.text
    ng.stop()
    rec = records(log)[-1]
    assert (rec["status"], rec["decision"], rec["reason"]) == \
        (502, "error", "upstream_invalid")


def test_a_list_known_bad_from_its_headers_is_refused_at_once(
        nginx, upstream, tmp_path):
    # 20 MB announced, sent over ~5 s: the gateway answers without
    # waiting for it (it used to drain every byte before its 502)
    upstream.mode(list_body="huge")
    log = str(tmp_path / "audit.log")
    ng = nginx(http_extra=audit_conf(log))
    t0 = time.monotonic()
    r = requests.get(ng.url(P), headers=bearer("fraud"), timeout=15)
    elapsed = time.monotonic() - t0
    assert_ds_error(r, 502, "INTERNAL_ERROR")
    assert elapsed < 2.5, elapsed      # the upstream needs ~5 s
    # a compressed list, likewise
    upstream.mode(list_body="gzip")
    r = requests.get(ng.url(P), headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 502, "INTERNAL_ERROR")
    ng.stop()
    recs = records(log)
    assert [(x["status"], x["decision"], x["reason"]) for x in recs] == \
        [(502, "error", "upstream_invalid")] * 2
    assert "not filtered (the body is larger than ds_list_max_size)" \
        in ng.log_since(0)


def test_subrequest_into_an_enforced_location_ends_the_request(
        nginx, upstream):
    # nginx skips the access phase for subrequests: an SSI include of an
    # enforced URI would fetch it with no check at all
    ng = nginx(server_extra="""
        location = /page {
            ssi on;
            default_type text/html;
            return 200 '<p><!--# include virtual="%s/internal_finance" --></p>';
        }""" % P)
    try:
        r = requests.get(ng.url("/page"), timeout=5)
        body = r.text
    except requests.exceptions.RequestException:
        body = ""
    assert "internal_finance" not in body
    assert upstream.requests() == []
    assert "was not checked: request ended" in ng.log_since(0)


# --------------------------------------------- configuration around us

def test_rewrite_inside_an_enforced_location_is_denied(nginx, upstream):
    ng = nginx(location_extra=r"""
            rewrite ^(%s)/claims$ $1/internal_finance break;""" % P)
    r = requests.get(ng.url(P + "/claims"), headers=bearer("fraud"),
                     timeout=5)
    body = assert_ds_error(r, 500, "INTERNAL_ERROR")
    assert "internal_finance" not in body["message"]
    assert upstream.requests() == []
    assert "the URI was changed before the check" in ng.log_since(0)


def test_rewrite_into_an_enforced_location_is_denied(nginx, upstream):
    ng = nginx(server_extra=r"""
        rewrite ^/old/(.*)$ %s/$1 last;""" % PREFIX)
    r = requests.get(ng.url("/old/shares/internal_finance"),
                     headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 500, "INTERNAL_ERROR")
    assert upstream.requests() == []


def test_rewrite_out_of_an_enforced_location_is_ended(nginx, upstream,
                                                     tmp_path):
    # "rewrite ... last" (or try_files) in the enforced location sends the
    # request to a location without ngx_ds before the check: it is ended
    # there, before that location's proxy_pass, and audited
    log = str(tmp_path / "audit.log")
    ng = nginx(http_extra=audit_conf(log), location_extra=r"""
            if ($arg_raw) {
                rewrite ^%s/(.*)$ /raw/$1 last;
            }""" % P, server_extra="""
        location /raw/ {
            proxy_pass http://127.0.0.1:%d%s/;
        }""" % (upstream.port, P))
    r = requests.get(ng.url(P + "/internal_finance?raw=1"),
                     headers=bearer("fraud"), timeout=5)
    body = assert_ds_error(r, 500, "INTERNAL_ERROR")
    assert "internal_finance" not in body["message"]
    assert upstream.requests() == []
    assert "out of an enforced location before its check" in \
        ng.log_since(0)
    # the control: the same location without the rewrite is checked
    r = requests.get(ng.url(P + "/internal_finance"),
                     headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    ng.stop()
    recs = records(log)
    assert [(x["status"], x["decision"], x["reason"]) for x in recs] == \
        [(500, "error", "not_checked"), (404, "deny", "not_entitled")]


def test_moved_out_after_the_check_is_ended(nginx, upstream, tmp_path):
    # after an allow, try_files or "error_page =" into a location without
    # ngx_ds would answer with content no check covers (an unfiltered
    # list, another upstream's): ended before that location's handler
    log = str(tmp_path / "audit.log")
    ng = nginx(http_extra=audit_conf(log), location_extra="""
            try_files /nonexistent /raw$uri;""", server_extra="""
        location /raw/ {
            proxy_pass http://127.0.0.1:%d/;
        }""" % upstream.port)
    r = requests.get(ng.url(P), headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 500, "INTERNAL_ERROR")
    assert upstream.requests() == []
    assert "after its check (try_files" in ng.log_since(0)
    ng.stop()
    recs = records(log)
    assert [(x["status"], x["decision"], x["reason"]) for x in recs] == \
        [(500, "error", "not_checked")]


def test_upstream_failure_fallback_is_ended(nginx, upstream, tmp_path):
    log = str(tmp_path / "audit.log")
    dead = free_port()
    ng = nginx(http_extra=audit_conf(log), server_extra="""
        location /gw/ {
            ds_enforce on;
            ds_prefix /gw;
            proxy_pass http://127.0.0.1:%d;
            error_page 502 = @fallback;
            error_page 504 /raw/x;
        }
        location /raw/ {
            proxy_pass http://127.0.0.1:%d/;
        }
        location @fallback {
            proxy_pass http://127.0.0.1:%d;
        }""" % (dead, upstream.port, upstream.port))
    r = requests.get(ng.url("/gw/shares"), headers=bearer("fraud"),
                     timeout=5)
    assert_ds_error(r, 500, "INTERNAL_ERROR")
    assert upstream.requests() == []
    ng.stop()
    assert [(x["status"], x["reason"]) for x in records(log)] == \
        [(500, "not_checked")]


def test_x_accel_redirect_of_an_allowed_answer_is_served(nginx, upstream,
                                                         tmp_path):
    # the Delta Sharing server's own choice after an allow: its target
    # location, without ngx_ds, answers
    xa = free_port()
    ng = nginx(http_extra="""
    server {
        listen 127.0.0.1:%d;
        location / {
            add_header X-Accel-Redirect /protected/part-0.parquet;
            return 200 "";
        }
    }""" % xa, server_extra="""
        location /xa/ {
            ds_enforce on;
            ds_prefix /xa;
            proxy_pass http://127.0.0.1:%d;
        }
        location /protected/ {
            internal;
            return 200 "accelerated bytes";
        }""" % xa)
    r = requests.get(ng.url("/xa/shares/claims"), headers=bearer("fraud"),
                     timeout=5)
    assert r.status_code == 200, r.text
    assert r.text == "accelerated bytes"
    r = requests.get(ng.url("/xa/shares/internal_finance"),
                     headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert "accelerated" not in r.text


def test_content_that_skipped_the_check_is_replaced(nginx, upstream,
                                                    tmp_path):
    # a rewrite-phase "return" answers before the access phase: the
    # check never ran, so nothing of it may go out
    log = str(tmp_path / "audit.log")
    ng = nginx(http_extra=audit_conf(log), location_extra="""
            if ($arg_leak) {
                return 200 'unfiltered internal_finance';
            }
            if ($arg_away) {
                return 302 http://example.invalid/;
            }""")
    r = requests.get(ng.url(P + "?leak=1"), timeout=5)
    assert_ds_error(r, 500, "INTERNAL_ERROR")
    assert "internal_finance" not in r.text
    r = requests.get(ng.url(P + "?away=1"), timeout=5,
                     allow_redirects=False)
    assert_ds_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert "Location" not in r.headers
    ng.stop()
    recs = records(log)
    assert [(x["status"], x["decision"], x["reason"]) for x in recs] == \
        [(500, "error", "not_checked"), (404, "error", "unknown_endpoint")]


# ------------------------------------------------ nginx's own answers

def test_nginx_errors_are_delta_sharing_errors(nginx, upstream, tmp_path):
    log = str(tmp_path / "audit.log")
    ng = nginx(http_extra=audit_conf(log),
               location_extra="            client_max_body_size 16;")
    # 413 while choosing the location
    r = requests.post(ng.url(QUERY), data=b"x" * 1000,
                      headers=bearer("fraud"), timeout=5)
    assert_ds_error(r, 413, "INVALID_PARAMETER_VALUE")
    # the trailing-slash redirect of "POST /delta-sharing" (python's
    # profile endpoint without the slash)
    r = requests.post(ng.url(PREFIX), headers=bearer("fraud"), timeout=5,
                      allow_redirects=False)
    assert_ds_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    # a bad request nginx rejects before routing, under the prefix
    out = raw(ng.port, b"GET " + P.encode() + b" HTTP/1.1\r\n"
              b"Host: a\r\nHost: b\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), out
    assert json.loads(body)["errorCode"] == "INVALID_PARAMETER_VALUE"
    # outside every enforced prefix nginx answers as always
    out = raw(ng.port, b"GET /plain HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"<html>" in out
    ng.stop()
    recs = records(log)
    assert [(x["status"], x["decision"], x["reason"]) for x in recs[:3]] \
        == [(413, "error", "body_too_large"),
            (404, "error", "unknown_endpoint"),
            (400, "error", "bad_request")]


def test_upstream_down_and_slow_are_delta_sharing_errors(nginx):
    closed = free_port()
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        ng = nginx(server_extra="""
        location /down/ {
            ds_enforce on;
            ds_prefix /down;
            proxy_pass http://127.0.0.1:%d;
        }
        location /slow/ {
            ds_enforce on;
            ds_prefix /slow;
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:%d;
        }""" % (closed, hung.getsockname()[1]))
        r = requests.get(ng.url("/down/shares"), headers=bearer("fraud"),
                         timeout=10)
        body = assert_ds_error(r, 502, "TEMPORARILY_UNAVAILABLE")
        assert "retry" in body["message"]
        r = requests.get(ng.url("/slow/shares"), headers=bearer("fraud"),
                         timeout=10)
        assert_ds_error(r, 504, "TEMPORARILY_UNAVAILABLE")
    finally:
        hung.close()


def test_a_denial_does_not_invite_the_upload(nginx, upstream):
    # "Expect: 100-continue" and no token: the 401 comes first, never an
    # interim "100 Continue" that asks for a body nginx then discards
    ng = nginx()
    out = raw(ng.port, b"POST " + QUERY.encode() + b" HTTP/1.1\r\n"
              b"Host: a\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\nExpect: 100-continue\r\n"
              b"Connection: close\r\n\r\n", timeout=2)
    assert out.startswith(b"HTTP/1.1 401"), out[:200]
    assert b"100 Continue" not in out
    assert upstream.requests() == []
