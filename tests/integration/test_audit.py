"""Audit stream: one sealed record per request to an enforced location,
through a real nginx with the module, checked with the real dsctl.

Covers: the record's fields, no token in any line, record count under
load from keep-alive clients with 2 workers, dsctl audit verify on the
interleaved chains, each tamper kind detected at the right line, no
loss across `nginx -s reopen` and reload (buffered and unbuffered),
OCSF output, syslog output, unkeyed chains, requests nginx rejects
before routing, and write errors counted and reported, not fatal.
"""

import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import PREFIX, TOKENS, Nginx, bearer, dsctl, wait_for

SHARES = PREFIX + "/shares"
QUERY = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims/query"
METADATA = (PREFIX + "/shares/claims/schemas/adjudicated/tables/"
            "medical_claims/metadata")
NOT_ENTITLED = PREFIX + "/shares/internal_finance/schemas"


# ----------------------------------------------------------------- helpers

def write_key(directory):
    path = os.path.join(str(directory), "audit.key")
    with open(path, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path


def audit_conf(log, key=None, params=""):
    lines = []
    if key:
        lines.append("    ds_audit_key %s;" % key)
    lines.append("    ds_audit_log %s %s;" % (log, params))
    return "\n".join(lines)


def start(nginx, tmp_path, params="", key=True, workers=1, extra=""):
    log = str(tmp_path / "audit.log")
    keyfile = write_key(tmp_path) if key else None
    ng = nginx(http_extra=audit_conf(log, keyfile, params) + "\n" + extra,
               workers=workers)
    return ng, log, keyfile


def read_lines(*paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out += f.read().splitlines()
    return out


def records(*paths):
    """Every line parses as a JSON object; returns them."""
    recs = []
    for raw in read_lines(*paths):
        rec = json.loads(raw.decode("utf-8"))
        assert isinstance(rec, dict)
        recs.append(rec)
    return recs


def requests_of(recs):
    return [r for r in recs if r.get("type") == "request"]


def verify(paths, key, *extra):
    args = ["audit", "verify"] + list(paths)
    if key:
        args += ["--key", key]
    return dsctl(*(args + list(extra)))


def assert_no_token(paths):
    blob = b"".join(open(p, "rb").read() for p in paths)
    for tok in TOKENS.values():
        assert tok.encode() not in blob
    assert b"Bearer" not in blob
    assert b"upstream-secret" not in blob


def first_error_line(out):
    m = re.search(r"^(\S+):(\d+): error: ", out, re.M)
    assert m, out
    return os.path.basename(m.group(1)), int(m.group(2))


# ------------------------------------------------------------------- tests

def test_audit_record_fields(nginx, tmp_path):
    ng, log, key = start(nginx, tmp_path)
    s = requests.Session()

    r = s.get(ng.url(SHARES + "?maxResults=5&secret=zzz"),
              headers=dict(bearer("fraud"), **{"User-Agent": "audit-test/1"}))
    assert r.status_code == 200
    assert s.get(ng.url(SHARES)).status_code == 401
    assert s.get(ng.url(SHARES),
                 headers=bearer("dst_unknown_0000000000000000000000000000")
                 ).status_code == 401
    assert s.get(ng.url(NOT_ENTITLED), headers=bearer("fraud")).status_code \
        in (403, 404)
    ng.stop()

    recs = records(log)
    assert [r["type"] for r in recs] == \
        ["chain_start", "request", "request", "request", "request",
         "chain_end"]
    ok, missing, unknown, forbidden = requests_of(recs)

    assert ok["schema_version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ok["time"])
    assert abs(ok["time_ms"] / 1000 - time.time()) < 600
    assert re.fullmatch(r"[0-9a-f]{32}", ok["request_id"])
    assert ok["instance"]
    assert ok["recipient"] == "fraud-analytics"
    assert ok["token_id"] == "fa-1"
    assert ok["action"] == "deltaSharingListShares"
    assert ok["operation"] == "list_shares"
    assert ok["method"] == "GET"
    assert ok["path"] == SHARES
    assert ok["query"] == {"maxResults": "5"}
    assert ok["client_ip"] == "127.0.0.1"
    assert ok["user_agent"] == "audit-test/1"
    assert ok["decision"] == "allow"
    assert ok["reason"] == "allowed"
    assert ok["status"] == 200
    assert ok["upstream_status"] == "200"
    assert ok["bytes_sent"] > ok["body_bytes_sent"] > 0
    assert ok["duration_ms"] >= 0
    assert re.fullmatch(r"[0-9a-f]{64}", ok["policy_version"])
    assert ok["integrity"]["seq"] == 1

    assert missing["decision"] == "deny"
    assert missing["reason"] == "token_missing"
    assert missing["status"] == 401
    assert missing["recipient"] is None and missing["token_id"] is None
    assert missing["upstream_status"] is None

    assert unknown["reason"] == "token_unknown"
    assert forbidden["decision"] == "deny"
    assert forbidden["recipient"] == "fraud-analytics"
    assert forbidden["share"] == "internal_finance"

    assert recs[-1]["records"] == 4 and recs[-1]["lost"] == 0
    assert_no_token([log])

    r = verify([log], key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: 1 chain(s), 6 record(s) verified (4 request(s))" in r.stdout

    # keyed chains cannot be checked without the key: a usage error
    r = verify([log], None)
    assert r.returncode == 2 and "--key" in r.stderr


def load(ng, n, threads=8):
    """n requests from keep-alive sessions; returns the count sent."""
    plan = [
        ("get", SHARES, "fraud", 200),
        ("post", QUERY, "fraud", 200),
        ("get", METADATA, "fraud", 200),
        ("get", SHARES, None, 401),
        ("get", NOT_ENTITLED, "fraud", None),
        ("get", SHARES, "expired", 401),
        ("get", SHARES, "dist", 200),
        ("get", PREFIX + "/nope", "fraud", None),
    ]
    local = threading.local()

    def one(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        method, path, who, want = plan[i % len(plan)]
        kw = {"headers": bearer(who) if who else {}, "timeout": 30}
        if method == "post":
            kw["json"] = {"limitHint": 10}
        r = getattr(local.s, method)(ng.url(path), **kw)
        if want is not None:
            assert r.status_code == want, (path, r.status_code, r.text)
        return 1

    with ThreadPoolExecutor(threads) as ex:
        return sum(ex.map(one, range(n)))


def test_audit_under_load_and_tamper(nginx, tmp_path):
    ng, log, key = start(nginx, tmp_path, workers=2)
    sent = load(ng, 3000)
    ng.stop()

    recs = records(log)
    assert len(requests_of(recs)) == sent == 3000
    chains = {r["integrity"]["chain"] for r in recs}
    assert len(chains) >= 2
    assert sum(r["type"] == "chain_start" for r in recs) == len(chains)
    assert sum(r["type"] == "chain_end" for r in recs) == len(chains)
    assert_no_token([log])

    r = verify([log], key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(3000 request(s))" in r.stdout

    lines = read_lines(log)
    chain_of = [json.loads(x)["integrity"]["chain"] for x in lines]

    def tampered(name, new_lines):
        p = str(tmp_path / name)
        with open(p, "wb") as f:
            f.write(b"\n".join(new_lines) + b"\n")
        res = verify([p], key)
        assert res.returncode == 1, res.stdout
        assert "TAMPERED" in res.stdout
        return first_error_line(res.stdout)

    # edit one byte of a record in the middle
    k = next(i for i in range(len(lines) // 2, len(lines))
             if b'"status":200' in lines[i])
    edited = list(lines)
    edited[k] = edited[k].replace(b'"status":200', b'"status":290', 1)
    assert tampered("edit.log", edited) == ("edit.log", k + 1)

    # delete a line: detected at the next line of the same chain
    k = len(lines) // 3
    nxt = next(j for j in range(k + 1, len(lines))
               if chain_of[j] == chain_of[k])
    deleted = lines[:k] + lines[k + 1:]
    assert tampered("delete.log", deleted) == ("delete.log", nxt)

    # swap a record with the next one of its chain
    k = len(lines) // 2
    nxt = next(j for j in range(k + 1, len(lines))
               if chain_of[j] == chain_of[k])
    swapped = list(lines)
    swapped[k], swapped[nxt] = swapped[nxt], swapped[k]
    assert tampered("swap.log", swapped) == ("swap.log", k + 1)

    # insert a forged record (a real one with its decision flipped)
    k = next(i for i in range(len(lines) // 4, len(lines))
             if b'"decision":"deny"' in lines[i])
    forged = lines[k].replace(b'"decision":"deny"', b'"decision":"allow"')
    inserted = lines[:k + 1] + [forged] + lines[k + 1:]
    assert tampered("insert.log", inserted) == ("insert.log", k + 2)

    # cut the tail: an open chain is an error by default (an auditor
    # runs the default), a warning with --open-ok (nginx still running)
    last = max(i for i, c in enumerate(chain_of) if c == chain_of[0])
    p = str(tmp_path / "cut.log")
    with open(p, "wb") as f:
        f.write(b"\n".join(lines[:last]) + b"\n")
    res = verify([p], key)
    assert res.returncode == 1 and "error: open" in res.stdout, res.stdout
    res = verify([p], key, "--open-ok")
    assert res.returncode == 0 and "warning: open" in res.stdout, res.stdout
    # --strict, the old way to ask for this, is still accepted
    assert verify([p], key, "--strict").returncode == 1

    # another key proves nothing
    other = str(tmp_path / "other.key")
    with open(other, "w") as f:
        f.write(secrets.token_hex(32))
    res = verify([log], other)
    assert res.returncode == 1
    assert first_error_line(res.stdout) == ("audit.log", 1)


@pytest.mark.parametrize("params", ["", "buffer=64k flush=1s"])
def test_audit_reopen_and_reload_lose_nothing(nginx, tmp_path, params):
    ng, log, key = start(nginx, tmp_path, params=params)
    s = requests.Session()

    def burst(n):
        for _ in range(n):
            assert s.get(ng.url(SHARES), headers=bearer("fraud")) \
                .status_code == 200

    burst(50)
    os.rename(log, log + ".1")
    ng.reopen()
    wait_for(lambda: os.path.exists(log), what="audit log reopened")
    burst(60)
    s.close()
    assert ng.reload()
    s = requests.Session()
    burst(70)
    ng.stop()

    recs = records(log + ".1", log)
    assert len(requests_of(recs)) == 180
    # two workers' lives: two chains, both closed
    assert sum(r["type"] == "chain_end" for r in recs) == 2

    r = verify([log + ".1", log], key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(180 request(s))" in r.stdout

    # the newer segment alone continues a chain: an error by default,
    # a warning when --continued-ok says the older one was not given
    r = verify([log], key)
    assert r.returncode == 1, r.stdout
    assert "error: continued" in r.stdout
    r = verify([log], key, "--continued-ok")
    assert r.returncode == 0, r.stdout
    assert "warning: continued" in r.stdout


def test_audit_ocsf(nginx, tmp_path):
    ng, log, key = start(nginx, tmp_path, params="format=ocsf")
    assert requests.post(ng.url(QUERY), json={}, headers=bearer("fraud")) \
        .status_code == 200
    assert requests.post(ng.url(PREFIX + "/shares/provider_directory/schemas/"
                                "public/tables/providers/query"), json={},
                         headers=bearer("fraud")).status_code in (403, 404)
    ng.stop()

    recs = records(log)
    assert len(recs) == 4
    reqs = [r for r in recs if r["unmapped"]["dsgw"]["type"] == "request"]
    ok, denied = reqs
    for r in recs:
        assert r["class_uid"] == 6003 and r["category_uid"] == 6
        assert r["metadata"]["version"] == "1.8.0"
        assert r["metadata"]["sequence"] == \
            r["unmapped"]["dsgw"]["integrity"]["seq"]
    assert ok["type_uid"] == 600302
    assert ok["api"]["operation"] == "deltaSharingQueryTable"
    assert ok["actor"]["user"]["uid"] == "fraud-analytics"
    assert ok["actor"]["user"]["programmatic_credentials"][0]["uid"] == "fa-1"
    assert ok["action_id"] == 1 and ok["disposition_id"] == 1
    assert ok["http_request"]["http_method"] == "POST"
    assert ok["src_endpoint"]["ip"] == "127.0.0.1"
    assert ok["resources"][0]["uid"] == "claims.adjudicated.medical_claims"
    assert denied["action_id"] == 2 and denied["status_id"] == 2
    assert_no_token([log])

    r = verify([log], key)
    assert r.returncode == 0, r.stdout + r.stderr


def test_audit_syslog(nginx, tmp_path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    key = write_key(tmp_path)
    ng = nginx(http_extra="    ds_audit_key %s;\n    ds_audit_log "
               "syslog:server=127.0.0.1:%d,facility=local4,tag=dsaudit;"
               % (key, port))
    assert requests.get(ng.url(SHARES), headers=bearer("fraud")) \
        .status_code == 200
    ng.stop()

    msgs = []
    while len(msgs) < 3:
        msgs.append(sock.recv(65535).decode())
    sock.close()

    payloads = []
    for m in msgs:
        # <PRI>Mmm dd hh:mm:ss host tag: {json}
        mm = re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ dsaudit: "
                      r"(\{.*\})$", m)
        assert mm, m
        assert int(mm.group(1)) == 20 * 8 + 6      # local4.info
        payloads.append(mm.group(2))

    recs = [json.loads(p) for p in payloads]
    assert [r["type"] for r in recs] == ["chain_start", "request",
                                         "chain_end"]
    assert recs[1]["recipient"] == "fraud-analytics"

    p = str(tmp_path / "from-syslog.log")
    with open(p, "w") as f:
        f.write("\n".join(payloads) + "\n")
    r = verify([p], key)
    assert r.returncode == 0, r.stdout


def test_audit_unkeyed_chain(nginx, tmp_path):
    ng, log, _ = start(nginx, tmp_path, key=False)
    assert "without ds_audit_key" in ng.test_config()[1]
    requests.get(ng.url(SHARES), headers=bearer("fraud"))
    ng.stop()

    recs = records(log)
    assert all(r["integrity"]["alg"] == "sha256" for r in recs)
    assert verify([log], None).returncode == 0

    # a key given: the unkeyed chain is refused (downgrade)
    r = verify([log], write_key(tmp_path))
    assert r.returncode == 1


def test_audit_request_rejected_before_routing(nginx, tmp_path):
    ng, log, key = start(nginx, tmp_path)

    with socket.create_connection(("127.0.0.1", ng.port)) as c:
        c.sendall(b"BROKEN\x01 / HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(5)
        assert b" 400 " in c.recv(4096)

    # a request to a location without ds_enforce is not audited
    assert requests.get(ng.url("/plain")).status_code == 200
    ng.stop()

    reqs = requests_of(records(log))
    assert len(reqs) == 1
    assert reqs[0]["decision"] == "error"
    assert reqs[0]["status"] == 400
    assert reqs[0]["recipient"] is None
    assert verify([log], key).returncode == 0


def test_audit_write_errors_counted_not_fatal(nginx, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    key = write_key(tmp_path)
    ng = nginx(http_extra=audit_conf("/dev/full", key))
    mark = ng.log_size()
    t0 = time.monotonic()
    s = requests.Session()
    for _ in range(200):
        assert s.get(ng.url(SHARES), headers=bearer("fraud")) \
            .status_code == 200
    elapsed = time.monotonic() - t0
    ng.stop()

    log = ng.log_since(mark)
    errors = [l for l in ng.log_since(0).splitlines()
              if "ds_audit: write() to" in l]
    assert errors, log
    assert "No space left on device" in errors[0]
    # reported at most once a second, not once per record
    assert len(errors) <= int(elapsed) + 2
    # and the worker's total when it exits: start, 200 requests, end
    assert re.search(r'ds_audit: 202 record\(s\) for "/dev/full" lost', log), \
        log


def test_dsctl_audit_report(nginx, tmp_path):
    ng, log, key = start(nginx, tmp_path)
    s = requests.Session()
    for _ in range(3):
        s.get(ng.url(SHARES), headers=bearer("fraud"))
    s.get(ng.url(SHARES))
    s.get(ng.url(NOT_ENTITLED), headers=bearer("fraud"))
    s.post(ng.url(QUERY), json={}, headers=bearer("fraud"))
    ng.stop()

    r = dsctl("audit", "report", log)
    assert r.returncode == 0, r.stderr
    assert "6 request record(s)" in r.stdout
    assert "fraud-analytics: 5 calls, 4 allowed, 1 denied" in r.stdout
    assert "anonymous: 1 calls, 0 allowed, 1 denied" in r.stdout
    assert "token_missing=1" in r.stdout
    assert "claims.adjudicated.medical_claims: 1 calls" in r.stdout

    r = dsctl("audit", "report", log, "--format", "csv")
    rows = [l.split(",") for l in r.stdout.strip().splitlines()]
    assert rows[0][:6] == ["group", "key", "calls", "allowed", "denied",
                           "bytes"]
    fraud = [x for x in rows if x[:2] == ["recipient", "fraud-analytics"]][0]
    assert fraud[2:5] == ["5", "4", "1"]

    # a window in the past holds nothing
    r = dsctl("audit", "report", log, "--to", "2000-01-01")
    assert "0 request record(s)" in r.stdout


def test_audit_survives_internal_redirect(nginx, tmp_path):
    # audit configured in the enforced location only; the upstream's 404
    # is intercepted and served by a named location without ds_audit_log
    log = str(tmp_path / "audit.log")
    key = write_key(tmp_path)
    ng = nginx(http_extra="    ds_audit_key %s;" % key,
               location_extra="            ds_audit_log %s;\n"
                              "            proxy_intercept_errors on;\n"
                              "            error_page 404 = @nf;" % log,
               server_extra='        location @nf { return 404 "nf\\n"; }')
    r = requests.get(ng.url(PREFIX + "/shares/claims/schemas/adjudicated/"
                            "tables/no_such_table/metadata"),
                     headers=bearer("fraud"))
    assert r.status_code == 404 and r.text == "nf\n"
    ng.stop()

    reqs = requests_of(records(log))
    assert len(reqs) == 1
    assert reqs[0]["status"] == 404
    assert reqs[0]["decision"] == "allow"
    assert reqs[0]["recipient"] == "fraud-analytics"
    assert reqs[0]["table"] == "no_such_table"
    assert verify([log], key).returncode == 0


def test_audit_rate_limited(nginx, redis, tmp_path):
    from test_ratelimit import limited_policy, redis_conf
    log = str(tmp_path / "audit.log")
    key = write_key(tmp_path)
    ng = nginx(policy=limited_policy({"requests": 2, "per": "minute",
                                      "burst": 0}),
               http_extra=redis_conf(redis) + "\n" + audit_conf(log, key))
    codes = [requests.get(ng.url(SHARES), headers=bearer("fraud")).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    ng.stop()

    reqs = requests_of(records(log))
    assert [r["decision"] for r in reqs] == ["allow", "allow", "deny"]
    assert reqs[2]["reason"] == "rate_limited"
    assert reqs[2]["status"] == 429
    assert reqs[2]["recipient"] == "fraud-analytics"
    assert reqs[0]["rate_limit"]["state"] == "allowed"
    assert reqs[0]["rate_limit"]["remaining"] == 1
    assert reqs[2]["rate_limit"]["state"] == "limited"
    assert verify([log], key).returncode == 0


def test_audit_invalid_utf8_is_replaced_and_flagged(nginx, tmp_path):
    ng, log, key = start(nginx, tmp_path)
    req = (b"GET " + PREFIX.encode() + b"/shares/cl\xffaims/schemas HTTP/1.1\r\n"
           b"Host: x\r\nUser-Agent: bad\xff\xfeagent\"}\r\n"
           b"Authorization: Bearer " + TOKENS["fraud"].encode() + b"\r\n"
           b"Connection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", ng.port)) as c:
        c.sendall(req)
        c.settimeout(5)
        assert c.recv(4096).startswith(b"HTTP/1.1 ")
    ng.stop()

    reqs = requests_of(records(log))
    assert len(reqs) == 1
    r = reqs[0]
    assert r["sanitized"] is True
    assert r["user_agent"] == "bad\ufffd\ufffdagent\"}"
    assert r["path"] == PREFIX + "/shares/cl\ufffdaims/schemas"
    assert r["recipient"] == "fraud-analytics"
    assert_no_token([log])
    assert verify([log], key).returncode == 0


def test_audit_request_stopped_while_routing(nginx, tmp_path):
    # a 413 is decided while nginx picks the location, before ds_enforce
    # runs: still one record, with what is known
    log = str(tmp_path / "audit.log")
    key = write_key(tmp_path)
    ng = nginx(http_extra=audit_conf(log, key),
               location_extra="            client_max_body_size 16;")
    r = requests.post(ng.url(QUERY), data=b"x" * 1000,
                      headers=bearer("fraud"))
    assert r.status_code == 413
    ng.stop()

    reqs = requests_of(records(log))
    assert len(reqs) == 1
    assert reqs[0]["status"] == 413
    assert reqs[0]["decision"] == "error"
    assert reqs[0]["reason"] == "body_too_large"
    assert reqs[0]["recipient"] is None
    assert reqs[0]["path"] == QUERY
    assert_no_token([log])


def test_audit_request_body_sha256(nginx, tmp_path):
    import hashlib
    ng, log, key = start(nginx, tmp_path)
    s = requests.Session()
    small = b'{"limitHint": 10, "predicateHints": ["member_id = \'M42\'"]}'
    # larger than client_body_buffer_size: nginx spools it to a file
    big = b'{"limitHint": 1, "pad": "' + b"x" * 300000 + b'"}'
    for body in (small, big):
        s.post(ng.url(QUERY), data=body, headers=dict(
            bearer("fraud"), **{"Content-Type": "application/json"}))
    s.get(ng.url(SHARES), headers=bearer("fraud"))
    ng.stop()

    reqs = requests_of(records(log))
    assert [r["body_sha256"] for r in reqs] == [
        hashlib.sha256(small).hexdigest(), hashlib.sha256(big).hexdigest(),
        None]
    assert reqs[1]["request_length"] > len(big)
    # the predicate values themselves never reach the record
    assert b"M42" not in open(log, "rb").read()
    assert verify([log], key).returncode == 0


def test_audit_key_never_logged(nginx, tmp_path, request):
    request.node.allow_log = ("ds_audit_key: key shorter",)
    ng, log, key = start(nginx, tmp_path)
    requests.get(ng.url(SHARES), headers=bearer("fraud"))
    ng.stop()
    secret = open(key).read().strip()
    for path in (log, ng.error_log):
        assert secret not in open(path, errors="replace").read()

    # a short key is refused at configuration time, and not echoed.
    # (A separate prefix: a failed `nginx -t` leaks nginx's own init
    # pool, which a sanitizer run would otherwise blame on this test.)
    bad = tmp_path / "short.key"
    bad.write_text("0123456789abcdef\n")
    t = Nginx(str(tmp_path / "badkey"),
              ng.render(http_extra="    ds_audit_key %s;\n"
                        "    ds_audit_log %s;" % (bad, log)))
    rc, out = t.test_config()
    assert rc != 0
    assert "ds_audit_key" in out and "shorter than 32 bytes" in out
    assert "0123456789abcdef" not in out


def test_dsctl_audit_usage_errors(tmp_path):
    key = write_key(tmp_path)
    r = dsctl("audit", "verify", str(tmp_path / "missing.log"), "--key", key)
    assert r.returncode == 2 and "missing.log" in r.stderr
    r = dsctl("audit", "verify", "--key", key)
    assert r.returncode == 2
    r = dsctl("audit", "report", str(tmp_path / "missing.log"))
    assert r.returncode == 2
    r = dsctl("audit", "frobnicate")
    assert r.returncode == 2
    # an empty file verifies: nothing to contradict
    empty = tmp_path / "empty.log"
    empty.write_text("")
    r = dsctl("audit", "verify", str(empty), "--key", key)
    assert r.returncode == 0 and "0 chain(s)" in r.stdout


def test_query_args_allow_list(nginx, tmp_path, request):
    ng, log, key = start(nginx, tmp_path,
                         extra="    ds_audit_query_args version maxResults;")
    r = requests.get(ng.url(SHARES + "?maxResults=3&version=2&pageToken=t"
                            "&maxResults=9&x=1"),
                     headers=bearer("fraud"))
    ng.stop()
    rec = requests_of(records(log))[0]
    # (the upstream may refuse the odd arguments: recorded all the same)
    assert rec["status"] == r.status_code
    # first occurrence of each listed name, nothing else
    assert rec["query"] == {"maxResults": "3", "version": "2"}
    assert verify([log], key).returncode == 0

    # a name that could not be a JSON key as written fails `nginx -t`
    t = Nginx(str(tmp_path / "badargs"),
              ng.render(http_extra=audit_conf(log, key) + "\n"
                        '    ds_audit_query_args maxResults "a\\"b";'))
    rc, out = t.test_config()
    assert rc != 0
    assert "ds_audit_query_args" in out and "use letters" in out


def test_request_id_is_the_request_id_variable(nginx, tmp_path, request):
    # the record's request_id is $request_id, whoever computes it first:
    # the access log (after the record) or a response header (before)
    log = str(tmp_path / "audit.log")
    access = str(tmp_path / "access.log")
    key = write_key(tmp_path)
    ng = nginx(http_extra=audit_conf(log, key) + "\n"
               "    log_format ids '$request_id $status';\n"
               # $request_id is evaluated only for ?echo=1
               "    map $arg_echo $echo_id { 1 $request_id; default ''; }",
               server_extra="        access_log %s ids;" % access,
               location_extra="            add_header X-Request-Id $echo_id;")
    plain = [requests.get(ng.url(SHARES), headers=bearer("fraud"))
             for _ in range(3)]
    echoed = requests.get(ng.url(SHARES + "?echo=1"), headers=bearer("fraud"))
    ng.stop()

    assert [r.status_code for r in plain + [echoed]] == [200] * 4
    recs = requests_of(records(log))
    ids = [r["request_id"] for r in recs]
    logged = [l.split()[0] for l in open(access).read().splitlines()]
    assert ids == logged
    assert len(set(ids)) == 4
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert echoed.headers["X-Request-Id"] == ids[3]
    assert verify([log], key).returncode == 0


def test_unbuffered_record_written_before_the_next_request(nginx, tmp_path):
    # without buffer=, a record is written at the end of the event-loop
    # iteration that finished its request: before the worker reads the
    # next request, so once that one is answered the first is on disk
    ng, log, key = start(nginx, tmp_path)
    s = requests.Session()
    for i in range(1, 6):
        r = s.get(ng.url(SHARES), headers=bearer("fraud"))
        assert r.status_code == 200
        if i > 1:
            on_disk = requests_of(records(log))
            assert len(on_disk) >= i - 1
    ng.stop()
    assert len(requests_of(records(log))) == 5
    assert verify([log], key).returncode == 0
