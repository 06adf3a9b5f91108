"""Hostile and broken input through the real nginx + module: bad
Authorization headers (missing, duplicate, oversized, other schemes, NUL
and non-ASCII bytes), hostile paths and encodings, huge purpose headers,
request-smuggling header combinations, list responses the upstream
botches, and a policy file broken during a reload.

Every case checks four things: a clear error status (and the Delta
Sharing error body when the module answers), no crash (the conftest
teardown fails the test on [alert]/[emerg]/sanitizer lines), nothing
reaching the upstream that should not (upstream.requests()), and one
audit record per request with the status the client saw.

The gateway cases run twice: with the error log at `info`, where nginx's
own messages about bad header lines print whole Authorization values
(docs/hardening.md), and at `notice`, the lowest level fit for
production, where no token may reach the error log at all.

Requests are written to raw sockets: http.client and requests refuse
some of these bytes, and the point is to send exactly them.
"""

import json
import re
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import PREFIX, TOKENS, dsctl, make_policy, write_policy

SHARES = PREFIX + "/shares"
CLAIMS_SCHEMAS = PREFIX + "/shares/claims/schemas"
SECRET_SCHEMAS = PREFIX + "/shares/internal_finance/schemas"
QUERY = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims/query"
FRAUD = TOKENS["fraud"].encode()


# ------------------------------------------------------------- raw client

class Reply:
    def __init__(self, raw):
        self.raw = raw
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        assert len(parts) >= 2 and parts[0].startswith(b"HTTP/"), raw[:200]
        self.status = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            self.headers[k.strip().lower().decode()] = v.strip().decode(
                "latin-1")
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = dechunk(body)
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def dechunk(data):
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2:]
    return out


def send_raw(port, data, timeout=5.0):
    """Send bytes, read until nginx closes. Bounded: no answer within
    `timeout` seconds fails the test (a hung worker is a defect)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                return buf
            buf += chunk
        raise AssertionError("nginx did not finish answering within %ss: %r"
                             % (timeout, buf[:300]))


def request_bytes(method=b"GET", target=SHARES.encode(), headers=(),
                  body=b"", auth=FRAUD, close=True):
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: gw.test"]
    if auth is not None:
        lines.append(b"Authorization: Bearer " + auth)
    lines += list(headers)
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def ask(ng, *args, **kw):
    return Reply(send_raw(ng.port, request_bytes(*args, **kw)))


# ---------------------------------------------------------------- fixture

class Gateway:
    """nginx with the module, the default policy and an audit log."""

    def __init__(self, nginx, tmp_path, upstream, **kw):
        self.audit_log = str(tmp_path / "audit.jsonl")
        self.log_level = kw.setdefault("log_level", "info")
        extra = kw.pop("http_extra", "")
        self.ng = nginx(http_extra="    ds_audit_log %s;\n%s"
                        % (self.audit_log, extra), **kw)
        self.upstream = upstream
        self.port = self.ng.port
        self.statuses = []          # what each request got, in order

    def ask(self, *args, **kw):
        r = ask(self.ng, *args, **kw)
        self.statuses.append(r.status)
        return r

    def raw(self, data):
        r = Reply(send_raw(self.port, data))
        self.statuses.append(r.status)
        return r

    def upstream_paths(self):
        return [q["path"] for q in self.upstream.requests()]

    def audit_records(self):
        """Stops nginx (so every record is written) and returns the
        request records."""
        self.ng.stop()
        recs = []
        with open(self.audit_log, "rb") as f:
            for line in f.read().splitlines():
                rec = json.loads(line.decode("utf-8"))
                if rec.get("type") == "request":
                    recs.append(rec)
        return recs

    def secrets_in_error_log(self):
        """Tokens (or whole Authorization values) in the error log."""
        log = self.ng.log_since(0).encode("latin-1", "replace")
        found = [t for t in TOKENS.values() if t.encode() in log]
        found += [f for f in (FRAUD[:10], b"Bearer ") if f in log]
        return found

    def check_audit(self):
        """One record per request, in order, with the status sent, and
        no secret in the file; at notice, none in the error log."""
        recs = self.audit_records()
        assert [r["status"] for r in recs] == self.statuses, recs
        blob = open(self.audit_log, "rb").read()
        for tok in TOKENS.values():
            assert tok.encode() not in blob
        assert b"Bearer" not in blob
        if self.log_level == "notice":
            assert self.secrets_in_error_log() == [], \
                self.ng.log_since(0)[-2000:]
        return recs


# info: nginx's own messages may print tokens (the case for debugging);
# notice: what production runs, where the error log must hold none
LOG_LEVELS = ["info", "notice"]


@pytest.fixture(params=LOG_LEVELS)
def gw(nginx, tmp_path, upstream, request):
    return Gateway(nginx, tmp_path, upstream, log_level=request.param)


def assert_ds_error(r, status, code):
    assert r.status == status, (r.status, r.body[:300])
    assert r.headers.get("content-type", "").startswith("application/json")
    err = r.json()
    assert err["errorCode"] == code
    assert isinstance(err["message"], str) and err["message"]
    # never echo a secret back
    for tok in TOKENS.values():
        assert tok.encode() not in r.body


# ----------------------------------------------------- Authorization header

BAD_AUTH = [
    # (Authorization value or None, reason in the audit record)
    (None, "token_missing"),
    (b"", "token_missing"),
    (b"Basic ZnJhdWQ6cGFzc3dvcmQ=", "token_malformed"),
    (b"Bearer", "token_malformed"),
    (b"Token " + FRAUD, "token_malformed"),
    (b"Bearer" + FRAUD, "token_malformed"),
    (b"Bearer " + FRAUD + b" extra", "token_malformed"),
    (b"Bearer " + FRAUD + b"\xff", "token_malformed"),
    (b"Bearer " + FRAUD[:-1] + b"\xc3\xa9", "token_malformed"),
    (b"Bearer \xe2\x80\x8b" + FRAUD, "token_malformed"),
    (b"Bearer " + FRAUD[:10] + b"\x01" + FRAUD[10:], "token_malformed"),
    (b"Bearer " + FRAUD[:10] + b"\x7f" + FRAUD[10:], "token_malformed"),
    (b"Bearer " + FRAUD + b"x", "token_unknown"),
    (b"Bearer " + FRAUD[:-1], "token_unknown"),
    (b"Bearer " + b"A" * 4096, "token_unknown"),
    (b"Bearer " + b"A" * 4097, "token_malformed"),
]


@pytest.mark.parametrize("value,reason", BAD_AUTH,
                         ids=[str(i) for i in range(len(BAD_AUTH))])
def test_bad_authorization_is_401(gw, value, reason):
    headers = [] if value is None else [b"Authorization: " + value]
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(), headers=headers, auth=None)
    assert_ds_error(r, 401, "UNAUTHENTICATED")
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["decision"] == "deny"
    assert rec["reason"] == reason
    assert rec["recipient"] is None
    assert rec["upstream_status"] is None


def test_lowercase_scheme_is_still_bearer(gw):
    # the control for the cases above: the scheme is case-insensitive
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(), auth=None,
               headers=[b"Authorization: bEARER " + FRAUD])
    assert r.status == 200
    assert gw.upstream_paths() == [CLAIMS_SCHEMAS]
    rec, = gw.check_audit()
    assert rec["recipient"] == "fraud-analytics"


def test_nul_in_token_rejected_by_nginx(gw):
    # nginx refuses a NUL in any header line before the module runs
    r = gw.ask(auth=FRAUD[:10] + b"\x00" + FRAUD[10:])
    assert r.status == 400
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["recipient"] is None


def test_duplicate_authorization(gw):
    # two tokens, both valid: nginx itself refuses the request (400) so
    # the module never has to choose one
    dup = b"Authorization: Bearer " + TOKENS["dist"].encode()
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(), headers=[dup])
    assert r.status == 400
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(), auth=None,
               headers=[dup, b"Authorization: Basic eDp5"])
    assert r.status == 400
    assert gw.upstream_paths() == []
    for rec in gw.check_audit():
        assert rec["recipient"] is None
        assert rec["decision"] != "allow"


@pytest.mark.parametrize("case", ["duplicate", "invalid", "too_long"])
def test_nginx_prints_authorization_only_at_info(gw, case):
    # nginx's own info-level lines quote the header line they refuse:
    # a duplicate Authorization (both tokens), one with a NUL, or a
    # line too long for its buffers (its first bytes); at notice none
    # is written. The control that gives check_audit's notice-level
    # check its teeth.
    if case == "duplicate":
        r = gw.ask(target=CLAIMS_SCHEMAS.encode(), headers=[
            b"Authorization: Bearer " + TOKENS["dist"].encode()])
    elif case == "invalid":
        r = gw.ask(auth=FRAUD + b"\x00")
    else:
        r = gw.ask(auth=FRAUD + b"A" * 9000)
    assert r.status in (400, 494)
    assert gw.upstream_paths() == []
    if gw.log_level == "info":
        # what check_audit refuses at notice
        assert gw.secrets_in_error_log() != [], gw.ng.log_since(0)
    gw.check_audit()


def test_8k_token(gw):
    # longer than nginx's large_client_header_buffers (4 x 8k): nginx
    # answers 400 (494 internally) before the module; no crash, nothing
    # forwarded, still audited
    r = gw.ask(auth=b"A" * 8192)
    assert r.status in (400, 494)
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["recipient"] is None


def test_6k_token_reaches_module(gw):
    # fits nginx's buffers but not DS_TOKEN_MAX: the module's 401
    r = gw.ask(auth=FRAUD + b"A" * 6000)
    assert_ds_error(r, 401, "UNAUTHENTICATED")
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["reason"] == "token_malformed"


def test_token_never_forwarded(gw):
    r = gw.ask(target=CLAIMS_SCHEMAS.encode())
    assert r.status == 200
    reqs = gw.upstream.requests()
    assert len(reqs) == 1
    # the proxy swaps the partner's token for the upstream credential
    assert TOKENS["fraud"] not in json.dumps(reqs[0])
    gw.check_audit()


# ------------------------------------------------------ paths and encodings

P = PREFIX.encode()
LONG = b"a" * 256

HOSTILE_PATHS = [
    # (raw target, status, reason); all with a valid token
    (P + b"/shares/claims%2Fschemas", 400, "bad_request"),
    (P + b"/shares/claims%2fschemas/adjudicated/tables", 400, "bad_request"),
    (P + b"/shares/claims%5Cschemas", 400, "bad_request"),
    (P + b"/shares/claims\\schemas", 400, "bad_request"),
    (P + b"/shares/claims%00", 400, None),
    (P + b"/shares/claims%0A/schemas", 400, "bad_request"),
    (P + b"/shares/clai%zz", 400, None),
    (P + b"/shares/clai%4", 400, None),
    (P + b"/shares/%2e%2e/internal_finance/schemas", 400, "bad_request"),
    (P + b"/shares/claims/../internal_finance/schemas", 400, "bad_request"),
    (P + b"/shares/claims/./schemas", 400, "bad_request"),
    (P + b"//shares/claims/schemas", 400, "bad_request"),
    (P + b"/shares//claims/schemas", 400, "bad_request"),
    (P + b"/shares/claims/schemas/", 400, "bad_request"),
    (b"/" + P + b"/shares", 404, "unknown_endpoint"),
    (b"/delta%2Dsharing/shares", 404, "unknown_endpoint"),
    (b"/delta%2dsharing/shares/internal_finance/schemas", 404,
     "unknown_endpoint"),
    (P + b"/SHARES", 404, "unknown_endpoint"),
    (P + b"/shares/claims/Schemas", 404, "unknown_endpoint"),
    (P + b"/shares/claims/schemas/adjudicated", 404, "unknown_endpoint"),
    (P + b"/shares/%252F", 404, "not_entitled"),
    (P + b"/shares/internal_finance%252F..%252Fclaims/schemas", 404,
     "not_entitled"),
    (P + b"/shares/INTERNAL_FINANCE/schemas", 404, "not_entitled"),
    (P + b"/shares/internal_finance/schemas", 404, "not_entitled"),
    (P + b"/shares/" + LONG + b"/schemas", 400, "bad_request"),
    (P + b"/shares/" + LONG[:255] + b"/schemas", 404, "not_entitled"),
    (P + b"/shares/caf\xc3\xa9/schemas", 404, "not_entitled"),
    (P + b"/shares/caf%C3%A9/schemas", 404, "not_entitled"),
    (P + b"/shares/caf\xff/schemas", 400, "bad_request"),
    (P + b"/shares/caf%C0%AF/schemas", 400, "bad_request"),
    (P + b"/shares/cl#aims/schemas", 400, "bad_request"),
    (P + b"/shares/a%20b/schemas", 400, "bad_request"),
    (P + b"/shares/claims/schemas/adj.udicated/tables", 400, "bad_request"),
]


@pytest.mark.parametrize("target,status,reason", HOSTILE_PATHS,
                         ids=[str(i) for i in range(len(HOSTILE_PATHS))])
def test_hostile_path(gw, target, status, reason):
    r = gw.ask(target=target)
    assert r.status == status, r.body[:300]
    if reason is not None:
        # the module answered (nginx refuses some before it: reason None)
        code = {400: "INVALID_PARAMETER_VALUE",
                404: "RESOURCE_DOES_NOT_EXIST"}[status]
        assert_ds_error(r, status, code)
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["decision"] != "allow"
    if reason is not None:
        assert rec["reason"] == reason
        assert rec["recipient"] == "fraud-analytics"


@pytest.mark.parametrize("target", [
    P + b"/shares/claims%2Fschemas",
    P + b"/shares/%2e%2e/internal_finance/schemas",
    P + b"/shares/internal_finance/schemas",
    P + b"//shares",
])
def test_hostile_path_without_token_is_401(gw, target):
    # an unauthenticated scanner learns nothing about paths
    r = gw.ask(target=target, auth=None)
    assert_ds_error(r, 401, "UNAUTHENTICATED")
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["reason"] == "token_missing"


@pytest.mark.parametrize("target", [
    P + b"/shares/CLAIMS/schemas",
    P + b"/shares/Claims/schemas",
    P + b"/shares/cl%61ims/schemas",
    P + b"/shares/claims/schemas?maxResults=1&x=%2F%00",
])
def test_equivalent_spellings_are_forwarded_unchanged(gw, target):
    # names are case-insensitive and decoded once: allowed, and the
    # upstream gets the bytes the gateway checked, not a re-encoding
    r = gw.ask(target=target)
    assert r.status == 200, r.body[:300]
    assert gw.upstream_paths() == [target.decode()]
    rec, = gw.check_audit()
    assert rec["decision"] == "allow"


def test_uri_longer_than_nginx_buffers(gw):
    r = gw.ask(target=P + b"/shares/" + b"a" * 9000)
    assert r.status == 414
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["recipient"] is None


@pytest.mark.parametrize("method,status", [
    (b"DELETE", 405), (b"PUT", 405), (b"OPTIONS", 405), (b"PATCH", 405),
    (b"POST", 405), (b"TRACE", 405), (b"GETX", 405),
])
def test_other_methods(gw, method, status):
    r = gw.ask(method=method, target=CLAIMS_SCHEMAS.encode(),
               headers=[b"Content-Length: 0"])
    # nginx itself answers TRACE with 405 before any module runs
    assert r.status == status
    if method != b"TRACE":
        assert_ds_error(r, status, "UNSUPPORTED_OPERATION")
        assert r.headers["allow"] == "GET"
    assert gw.upstream_paths() == []
    gw.check_audit()


# --------------------------------------------------------- purpose header

BAD_PURPOSES = [
    b"A" * 65,
    b"A" * 7000,
    b"FRAUD DETECTION",
    b"FRAUD\xc3\xa9",
    b"FRAUD/../x",
    b"\"FRAUD\"",
]


@pytest.mark.parametrize("value", BAD_PURPOSES)
def test_bad_purpose_is_400(gw, value):
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(),
               headers=[b"X-DS-Purpose: " + value])
    assert_ds_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert value not in r.body          # never echoed
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["reason"] == "purpose_invalid"
    assert rec["purpose"] is None


def test_duplicate_purpose_is_400(gw):
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(),
               headers=[b"X-DS-Purpose: FRAUD", b"x-ds-purpose: FRAUD"])
    assert_ds_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["reason"] == "purpose_invalid"


def test_purpose_larger_than_nginx_buffers(gw):
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(),
               headers=[b"X-DS-Purpose: " + b"A" * 9000])
    assert r.status in (400, 494)
    assert gw.upstream_paths() == []
    gw.check_audit()


def test_valid_purpose_passes(gw):
    # the control: a well-formed purpose on a grant without purposes
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(),
               headers=[b"X-DS-Purpose: FRAUD"])
    assert r.status == 200
    assert gw.upstream_paths() == [CLAIMS_SCHEMAS]
    rec, = gw.check_audit()
    assert rec["purpose"] == "FRAUD"


# ---------------------------------------------- smuggling-style headers

QBODY = b'{"limitHint": 1}'


SMUGGLING = [
    # Content-Length and Transfer-Encoding together: nginx refuses
    ([b"Content-Length: %d" % len(QBODY), b"Transfer-Encoding: chunked"],
     400),
    # two different lengths
    ([b"Content-Length: %d" % len(QBODY), b"Content-Length: 3"], 400),
    # two equal lengths: still a duplicate header for nginx
    ([b"Content-Length: %d" % len(QBODY)] * 2, 400),
    # encodings nginx does not implement
    ([b"Transfer-Encoding: gzip, chunked"], 501),
    ([b"Transfer-Encoding: xchunked"], 501),
    ([b"Content-Length: -1"], 400),
    ([b"Content-Length: 1x"], 400),
]


@pytest.mark.parametrize("headers,status", SMUGGLING)
def test_smuggling_combinations(gw, headers, status):
    r = gw.ask(method=b"POST", target=QUERY.encode(), headers=headers,
               body=QBODY)
    assert r.status == status
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["decision"] != "allow"


def test_pipelined_request_without_token_is_judged_alone(gw):
    # a keep-alive connection carries an authorised request and then one
    # with no token (and one for data the recipient may not see): each
    # request is judged on its own headers
    first = request_bytes(target=CLAIMS_SCHEMAS.encode(), close=False)
    second = request_bytes(target=SECRET_SCHEMAS.encode(), auth=None,
                           close=False)
    third = request_bytes(target=SECRET_SCHEMAS.encode())
    raw = send_raw(gw.port, first + second + third)
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    assert statuses == [200, 401, 404]
    gw.statuses += statuses
    assert gw.upstream_paths() == [CLAIMS_SCHEMAS]
    recs = gw.check_audit()
    assert [r["reason"] for r in recs] == \
        ["allowed", "token_missing", "not_entitled"]


def test_smuggled_request_in_body_is_not_a_request(gw):
    # the body of an allowed POST is data for the upstream, never parsed
    # by nginx as a second request
    inner = request_bytes(target=SECRET_SCHEMAS.encode(), close=False)
    r = gw.ask(method=b"POST", target=QUERY.encode(),
               headers=[b"Content-Type: application/json",
                        b"Content-Length: %d" % len(inner)], body=inner)
    # the upstream refuses the body (not JSON): its 400 comes back
    assert r.status == 400
    assert gw.upstream_paths() == [QUERY]
    rec, = gw.check_audit()
    assert rec["operation"] == "query_table"


# ------------------------------------------ list bodies the upstream botched

@pytest.mark.parametrize("mode", ["not_json", "truncated"])
def test_list_body_not_filterable_fails_safe(gw, mode):
    gw.upstream.mode(list_body=mode)
    r = gw.ask(target=SHARES.encode())
    assert_ds_error(r, 502, "INTERNAL_ERROR")
    # nothing of the unfiltered list leaks: not the share the recipient
    # may not see, not the upstream's own page
    for leak in (b"internal_finance", b"provider_directory", b"<html",
                 b"hiccup", b"claims"):
        assert leak not in r.body
    assert gw.upstream_paths() == [SHARES]
    rec, = gw.check_audit()
    assert rec["status"] == 502
    # the gateway failed, the policy did not deny
    assert rec["decision"] == "error"
    assert rec["reason"] == "upstream_invalid"
    assert rec["upstream_status"] == "200"


def test_list_body_cut_by_upstream(nginx, tmp_path, upstream):
    # the upstream promises a length and hangs up halfway: the client may
    # get a 502 or a closed connection, never the partial list, and the
    # audit trail must not show a list read that did not happen
    key = str(tmp_path / "audit.key")
    with open(key, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    gw = Gateway(nginx, tmp_path, upstream,
                 http_extra="    ds_audit_key %s;" % key)
    gw.upstream.mode(list_body="disconnect")
    raw = send_raw(gw.port, request_bytes(target=SHARES.encode()))
    assert b"internal_finance" not in raw
    assert b"provider_directory" not in raw
    if raw:
        assert Reply(raw).status == 502
    # then a normal list call: the chain goes on with an honest record
    gw.upstream.mode(list_body="normal")
    assert gw.ask(target=SHARES.encode()).status == 200
    assert gw.upstream_paths() == [SHARES, SHARES]

    cut, ok = gw.audit_records()
    # the held-back 200 never reached the client: nginx closes the
    # connection and its own $status still says 200, the record says 502
    assert cut["status"] == 502
    assert cut["decision"] == "error"
    assert cut["reason"] == "upstream_invalid"
    assert cut["upstream_status"] == "200"
    assert cut["list_items"] is None
    assert cut["recipient"] == "fraud-analytics"
    if not raw:
        assert cut["bytes_sent"] == 0 and cut["body_bytes_sent"] == 0
    assert (ok["status"], ok["decision"], ok["reason"]) == (
        200, "allow", "allowed")
    assert ok["list_items"] == {"in": 4, "out": 1}

    r = dsctl("audit", "verify", gw.audit_log, "--key", key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(2 request(s))" in r.stdout, r.stdout


class StallingUpstream:
    """Answers one list call with a 200 header and half its promised
    body, then stays silent until stopped."""

    HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n")
    HALF = b'{"items":[{"name":"internal_finance","id":"'

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            conn.sendall(self.HEAD + self.HALF)
            self.done.wait(30)

    def stop(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("end", ["read_timeout", "client_closed"])
def test_list_body_stalled_by_upstream(nginx, tmp_path, upstream, end):
    # the upstream sends half a list body and goes silent: either nginx
    # gives up on it (a failed read, recorded as above) or the client
    # leaves first (a 499 like any other, not an upstream failure)
    stall = StallingUpstream()
    try:
        gw = Gateway(nginx, tmp_path, upstream, location_extra="""
            location = %s {
                proxy_pass http://127.0.0.1:%d;
                proxy_read_timeout %s;
            }""" % (SHARES, stall.port,
                    "1s" if end == "read_timeout" else "30s"))
        if end == "read_timeout":
            raw = send_raw(gw.port, request_bytes(target=SHARES.encode()))
            assert raw == b""
        else:
            with socket.create_connection(("127.0.0.1", gw.port)) as s:
                s.sendall(request_bytes(target=SHARES.encode()))
                s.settimeout(0.5)
                with pytest.raises(socket.timeout):
                    s.recv(1)   # held back: nothing arrives
        rec, = gw.audit_records()
    finally:
        stall.stop()
    assert rec["bytes_sent"] == 0
    assert rec["list_items"] is None
    if end == "read_timeout":
        assert (rec["status"], rec["decision"], rec["reason"]) == (
            502, "error", "upstream_invalid")
    else:
        assert (rec["status"], rec["decision"], rec["reason"]) == (
            499, "allow", "allowed")


def test_list_filter_still_filters_normal_bodies(gw):
    # control for the three above: the same request, normal upstream
    r = gw.ask(target=SHARES.encode())
    assert r.status == 200
    names = [s["name"] for s in r.json()["items"]]
    assert names == ["claims"]
    gw.check_audit()


# ------------------------------------------------------ policy and reload

def fraud_status(ng):
    return Reply(send_raw(ng.port, request_bytes(
        target=CLAIMS_SCHEMAS.encode()))).status


@pytest.mark.parametrize("broken", [
    b"",
    b"{",
    b'{"version": 1, "recipients": [',
    b'{"version": 1, "recipients": {}}',
    b"\x00\xff\xfe garbage",
    json.dumps({"version": 1, "recipients": [{"id": "fraud-analytics",
                "status": "active", "tokens": [{"id": "t",
                "sha256": "nothex"}], "grants": []}]}).encode(),
])
def test_broken_policy_on_reload_keeps_old_one(nginx, upstream, broken,
                                              request):
    request.node.allow_log = ("ds_policy", "policy")
    ng = nginx()
    assert fraud_status(ng) == 200
    with open(ng.policy_path, "wb") as f:
        f.write(broken)
    assert ng.reload() is False
    assert "[emerg]" in ng.log_since(0)
    # the running configuration still serves with the old policy
    assert fraud_status(ng) == 200
    assert upstream.requests()[-1]["path"] == CLAIMS_SCHEMAS

    # a good policy afterwards is taken: fraud-analytics is gone from it
    pol = make_policy()
    pol["recipients"] = [r for r in pol["recipients"]
                         if r["id"] != "fraud-analytics"]
    write_policy(ng.policy_path, pol)
    assert ng.reload() is True
    assert fraud_status(ng) == 401


def test_policy_swapped_under_load(nginx, upstream, request):
    # clients keep asking while the policy file is rewritten and nginx
    # reloaded, broken and good alternately: every answer is a clean 200
    # (old or new policy allows) or 401 (new policy dropped the token),
    # never a 5xx or a dropped connection
    request.node.allow_log = ("ds_policy", "policy")
    ng = nginx(workers=2)
    without = make_policy()
    without["recipients"] = [r for r in without["recipients"]
                             if r["id"] != "fraud-analytics"]
    stop = threading.Event()
    seen = []
    errors = []

    def client():
        while not stop.is_set() and len(seen) < 5000:
            try:
                seen.append(fraud_status(ng))
            except Exception as e:       # noqa: BLE001 - report below
                errors.append(repr(e))

    with ThreadPoolExecutor(4) as pool:
        futs = [pool.submit(client) for _ in range(4)]
        try:
            for i in range(3):
                with open(ng.policy_path, "w") as f:
                    f.write('{"version": 1, "recipients": [')
                assert ng.reload() is False
                write_policy(ng.policy_path,
                             without if i % 2 == 0 else make_policy())
                assert ng.reload() is True
        finally:
            stop.set()
            for f in futs:
                f.result(timeout=30)
    assert not errors, errors[:5]
    assert seen and set(seen) <= {200, 401}, sorted(set(seen))
    assert 401 in seen and 200 in seen


# ------------------------------------------------- all of it, one worker

def test_every_hostile_input_in_one_worker(gw):
    # the cases above once more, back to back through a single worker:
    # state one request leaves behind (pool, context, audit buffer,
    # filter) must not leak into the next. Also the cheap way to run all
    # of them under valgrind (scripts/valgrind.sh): one nginx start.
    expect = []
    for value, _ in BAD_AUTH:
        headers = [] if value is None else [b"Authorization: " + value]
        gw.ask(target=CLAIMS_SCHEMAS.encode(), headers=headers, auth=None)
        expect.append(401)
    for target, status, _ in HOSTILE_PATHS:
        gw.ask(target=target)
        expect.append(status)
    for value in BAD_PURPOSES:
        gw.ask(target=CLAIMS_SCHEMAS.encode(),
               headers=[b"X-DS-Purpose: " + value])
        expect.append(400)
    for headers, status in SMUGGLING:
        gw.ask(method=b"POST", target=QUERY.encode(), headers=headers,
               body=QBODY)
        expect.append(status)
    gw.ask(auth=FRAUD[:10] + b"\x00" + FRAUD[10:])
    expect.append(400)
    gw.ask(auth=b"A" * 8192)
    expect.append(400)
    for mode in ("not_json", "truncated"):
        gw.upstream.mode(list_body=mode)
        gw.ask(target=SHARES.encode())
        expect.append(502)
    gw.upstream.mode(list_body="normal")
    assert gw.upstream_paths() == [SHARES, SHARES]

    # and the worker still serves a good request, filtered
    r = gw.ask(target=SHARES.encode())
    expect.append(200)
    assert [s["name"] for s in r.json()["items"]] == ["claims"]
    r = gw.ask(method=b"POST", target=QUERY.encode(),
               headers=[b"Content-Type: application/json",
                        b"Content-Length: %d" % len(QBODY)], body=QBODY)
    expect.append(200)
    assert gw.statuses == expect
    gw.check_audit()


# ------------------------------------------------ request-line oddities

@pytest.mark.parametrize("line,status", [
    # absolute-form: nginx keeps only the path as the raw URI, which is
    # what the module parses and what is forwarded
    (b"GET http://gw.test" + SECRET_SCHEMAS.encode() + b" HTTP/1.1", 404),
    (b"GET http://gw.test" + CLAIMS_SCHEMAS.encode() + b" HTTP/1.1", 200),
    (b"GET http://gw.test/" + P + b"/shares HTTP/1.1", 404),
    (b"GET HTTP://GW.TEST" + CLAIMS_SCHEMAS.encode() + b" HTTP/1.1", 200),
    # HTTP/1.0, no Host
    (b"GET " + SECRET_SCHEMAS.encode() + b" HTTP/1.0", 404),
    # raw space in the target: nginx refuses the request line
    (b"GET " + P + b"/shares/a b/schemas HTTP/1.1", 400),
    # unknown protocol version
    (b"GET " + CLAIMS_SCHEMAS.encode() + b" HTTP/2.7", 505),
])
def test_request_line_forms(gw, line, status):
    data = (line + b"\r\nHost: gw.test\r\nAuthorization: Bearer " + FRAUD +
            b"\r\nConnection: close\r\n\r\n")
    r = gw.raw(data)
    assert r.status == status, r.raw[:300]
    if status == 200:
        assert gw.upstream_paths() == [CLAIMS_SCHEMAS]
    else:
        assert gw.upstream_paths() == []
    gw.check_audit()


def test_many_purpose_headers(gw):
    r = gw.ask(target=CLAIMS_SCHEMAS.encode(),
               headers=[b"X-DS-Purpose: FRAUD"] * 100)
    assert_ds_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert gw.upstream_paths() == []
    rec, = gw.check_audit()
    assert rec["reason"] == "purpose_invalid"


# --------------------------------------- random paths: only grants pass

PIECES = [b"claims", b"CLAIMS", b"internal_finance", b"provider_directory",
          b"shares", b"schemas", b"tables", b"adjudicated", b"medical_claims",
          b"query", b"metadata", b"version", b"all-tables", b"..", b".",
          b"%2F", b"%2f", b"%2e", b"%25", b"%252F", b"%00", b"%", b"%4",
          b"%63laims", b"%C3%A9", b"\xc3\xa9", b"\xff", b"\\", b"#", b";",
          b"?", b"&", b"=", b"+", b"%2B", b"a" * 300, b"", b"/", b"//"]


def test_random_paths_only_entitled_data_reaches_upstream(gw):
    # a seeded, bounded walk over path pieces: whatever the module lets
    # through must name a share this recipient is entitled to (claims),
    # read from the bytes the upstream actually received
    import random
    from urllib.parse import unquote_to_bytes
    rnd = random.Random(8)
    forwarded = 0
    for _ in range(300):
        # the protocol's shape, with each part swapped for or glued to a
        # hostile piece now and then
        parts = [rnd.choice([b"claims", b"CLAIMS", b"%63laims",
                             b"internal_finance", b"provider_directory",
                             b"Internal_Finance"]),
                 b"schemas", rnd.choice([b"adjudicated", b"pending"]),
                 b"tables", rnd.choice([b"medical_claims", b"prior_auth"]),
                 rnd.choice([b"version", b"metadata", b"changes"])]
        parts = parts[:rnd.choice([1, 2, 4, 6])]
        for i in range(len(parts)):
            roll = rnd.random()
            if roll < 0.15:
                parts[i] = rnd.choice(PIECES)
            elif roll < 0.25:
                parts[i] = parts[i] + rnd.choice(PIECES)
            elif roll < 0.3:
                parts[i] = rnd.choice(PIECES) + parts[i]
        target = P + b"/shares/" + b"/".join(parts)
        gw.upstream.reset()
        r = gw.ask(target=target)
        assert r.status in (200, 400, 404, 405, 414), (target, r.status)
        seen = gw.upstream.requests()
        if r.status in (400, 405, 414):
            # the module's (or nginx's) refusal: nothing went out
            assert seen == [], (target, seen)
        for q in seen:
            path = q["path"].split("?", 1)[0]
            assert path.startswith(PREFIX + "/shares/"), path
            share = unquote_to_bytes(path[len(PREFIX + "/shares/"):]
                                     .split("/", 1)[0])
            assert share.lower() == b"claims", (target, path)
            forwarded += 1
    # the walk did reach the upstream sometimes (the check has teeth)
    print("forwarded %d of 300" % forwarded)
    assert forwarded >= 10
    recs = gw.check_audit()
    assert len(recs) == 300
