"""The disclosure record: what query, changes and query-poll answers hand
out, read as the answer streams through the gateway (docs/dataplane.md).

Each test compares the audit record with what the client actually
received from the real upstream through the real nginx: the numbers must
be the answer's, not a guess. Answers the reader cannot read are cut and
audited, never passed on.
"""

import json
import os

import pytest
import requests

from conftest import (NGINX_PRELOAD, NGINX_WRAPPER, PREFIX, bearer,
                      wait_for)

TABLE = PREFIX + "/shares/claims/schemas/adjudicated/tables/medical_claims"
QUERY = TABLE + "/query"
CHANGES = TABLE + "/changes"


def start(nginx, tmp_path, location_extra="", http_extra="", workers=1):
    log = str(tmp_path / "audit.log")
    access = str(tmp_path / "access.log")
    extra = ("    ds_audit_log %s;\n"
             "    log_format disc '$ds_disclosed_files $ds_disclosed_bytes "
             "$ds_disclosed_records $ds_exposed_until $ds_table_version';\n"
             % log) + http_extra
    loc = "            access_log %s disc;\n" % access + location_extra
    ng = nginx(http_extra=extra, location_extra=loc, workers=workers)
    return ng, log, access


def records(path, n=1):
    def enough():
        if not os.path.exists(path):
            return False
        return len([x for x in open(path) if '"type":"request"' in x]) >= n
    wait_for(enough, what="%d audit records" % n)
    return [json.loads(x) for x in open(path) if '"type":"request"' in x]


def lines_of(body):
    return [json.loads(x) for x in body.decode().splitlines() if x.strip()]


def expected(lines):
    """What the answer handed out, computed from the lines the client got."""
    files, size, recs, exps, parts = 0, 0, 0, [], []
    kinds = {"file": 0, "add": 0, "cdf": 0, "remove": 0}
    versions = []
    for line in lines:
        kind, v = next(iter(line.items()))
        if kind not in kinds:
            continue
        if "deltaSingleAction" in v:
            inner_kind, inner = next(iter(v["deltaSingleAction"].items()))
            kinds[{"add": "add", "cdc": "cdf", "remove": "remove"}[
                inner_kind]] += 1
            url = inner.get("path")
        else:
            kinds[kind] += 1
            inner, url = v, v.get("url")
        if url is None:
            continue
        files += 1
        size += inner.get("size", 0)
        if "stats" in inner:
            recs += json.loads(inner["stats"]).get("numRecords", 0)
        exps.append(v["expirationTimestamp"])
        if "version" in v:
            versions.append(v["version"])
        for k, pv in inner.get("partitionValues", {}).items():
            p = "%s=%s" % (k, pv)
            if p not in parts:
                parts.append(p)
    return {"files": files, "bytes": size, "records": recs,
            "exposed_until": max(exps) if exps else None,
            "expires_first": min(exps) if exps else None,
            "actions": kinds, "partitions": parts[:16],
            "versions": [min(versions), max(versions)] if versions else None}


def query(ng, body=None, headers=None):
    h = dict(bearer("fraud"))
    h.update(headers or {})
    return requests.post(ng.url(QUERY), json=body or {}, headers=h,
                         timeout=30)


def test_query_answer_disclosed(nginx, tmp_path, upstream):
    upstream.mode(query_files=40)
    ng, log, access = start(nginx, tmp_path)
    r = query(ng)
    assert r.status_code == 200, r.text
    lines = lines_of(r.content)
    exp = expected(lines)
    assert exp["files"] == 40

    d = records(log)[0]["disclosure"]
    assert d["files"] == exp["files"]
    assert d["bytes"] == exp["bytes"]
    assert d["records"] == exp["records"]
    assert d["exposed_until"] == exp["exposed_until"]
    assert d["expires_first"] == exp["expires_first"]
    assert d["actions"] == exp["actions"]
    assert d["partitions"] == exp["partitions"]
    assert d["partitions_capped"] is True          # 28 dates, 16 kept
    assert d["format"] == "parquet"
    assert d["proxied"] is False
    assert d["cut"] is None
    assert d["table_version"] == int(r.headers["Delta-Table-Version"])

    wait_for(lambda: os.path.getsize(access) > 0, what="access log")
    got = open(access).read().split()
    assert got == [str(exp["files"]), str(exp["bytes"]), str(exp["records"]),
                   str(exp["exposed_until"]),
                   r.headers["Delta-Table-Version"]]


def test_answer_passes_byte_for_byte(nginx, tmp_path, upstream):
    """Without file proxy mode the reader only reads: the partner gets
    exactly the upstream's bytes, and their length."""
    ng, log, _ = start(nginx, tmp_path)
    upstream.mode(query_files=5)
    r = query(ng, {"limitHint": 1000})
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.content.endswith(b"\n")
    # the upstream signs each URL with the time: one answer, compared
    # with itself re-serialized the way the upstream writes
    again = b"".join(json.dumps(x, separators=(",", ":")).encode() + b"\n"
                     for x in lines_of(r.content))
    assert r.content == again


def test_changes_disclosed(nginx, tmp_path):
    ng, log, _ = start(nginx, tmp_path)
    r = requests.get(ng.url(CHANGES), params={"startingVersion": 0,
                                              "endingVersion": 7},
                     headers=bearer("fraud"), timeout=10)
    assert r.status_code == 200, r.text
    exp = expected(lines_of(r.content))
    d = records(log)[0]["disclosure"]
    assert d["actions"] == exp["actions"]
    assert d["actions"]["add"] > 0 and d["actions"]["cdf"] > 0
    assert d["actions"]["remove"] > 0
    assert d["versions"] == exp["versions"] == [0, 7]
    assert d["files"] == exp["files"]
    assert d["bytes"] == exp["bytes"]


def test_delta_format_disclosed(nginx, tmp_path):
    ng, log, _ = start(nginx, tmp_path)
    r = query(ng, headers={"delta-sharing-capabilities":
                           "responseformat=delta,parquet"})
    assert r.status_code == 200
    lines = lines_of(r.content)
    assert "deltaSingleAction" in lines[-1]["file"]
    exp = expected(lines)
    d = records(log)[0]["disclosure"]
    assert d["format"] == "delta"
    assert d["files"] == exp["files"] == 3
    assert d["actions"]["add"] == 3
    assert d["bytes"] == exp["bytes"]
    assert d["records"] == exp["records"]


def test_unreadable_line_cuts_the_answer(nginx, tmp_path, upstream):
    """A line after the first file is broken: the client gets the lines
    before it and a failed transfer, never the broken line or anything
    after it; the audit says so."""
    upstream.mode(query_body="bad_line", query_files=3)
    ng, log, _ = start(nginx, tmp_path)
    got = b""
    with pytest.raises(requests.exceptions.RequestException):
        with requests.post(ng.url(QUERY), json={}, headers=bearer("fraud"),
                           timeout=10, stream=True) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(1024):
                got += chunk
    assert b"leak.example" not in got
    assert got.count(b'{"file"') <= 1
    rec = records(log)[0]
    assert rec["decision"] == "error"
    assert rec["reason"] == "upstream_invalid"
    assert rec["disclosure"]["cut"] == "a line is not JSON"
    assert rec["disclosure"]["files"] == 1
    assert "query answer from upstream cut (a line is not JSON)" in \
        ng.log_since(0)


test_unreadable_line_cuts_the_answer.allow_log = ("cut",)


def test_compressed_answer_refused(nginx, tmp_path, upstream):
    upstream.mode(query_body="gzip")
    ng, log, _ = start(nginx, tmp_path)
    r = query(ng)
    assert r.status_code == 502
    assert r.json()["errorCode"]
    assert b"amazonaws" not in r.content
    rec = records(log)[0]
    assert rec["reason"] == "upstream_invalid"


def vm_hwm_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_ten_thousand_files_stream_in_bounded_memory(nginx, tmp_path,
                                                     upstream):
    """10,000 files (~7 MB of NDJSON) pass through; the worker's peak
    memory grows by a small fraction of the answer (measured, printed)."""
    ng, log, _ = start(nginx, tmp_path)
    pid = ng.worker_pids()[0]
    upstream.mode(query_files=50)
    assert query(ng).status_code == 200      # warm: pools, buffers
    before = vm_hwm_kb(pid)

    upstream.mode(query_files=10000)
    r = query(ng)
    assert r.status_code == 200
    n = sum(1 for x in r.content.splitlines() if x.startswith(b'{"file"'))
    assert n == 10000
    after = vm_hwm_kb(pid)
    print("answer %d bytes, worker VmHWM %d -> %d kB (+%d kB)"
          % (len(r.content), before, after, after - before))
    # ASan's quarantine and valgrind keep freed memory on purpose: the
    # bound is the plain build's (the rest of the test runs under both)
    if not (NGINX_PRELOAD or NGINX_WRAPPER):
        assert (after - before) * 1024 < len(r.content) / 4

    d = records(log, 2)[1]["disclosure"]
    assert d["files"] == 10000
