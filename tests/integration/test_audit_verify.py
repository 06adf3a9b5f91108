"""dsctl audit verify's defaults and externally anchored checkpoints,
through a real nginx with the module and the real dsctl.

By default a chain must run from chain-start to chain-end. What no
local check can see (a whole worker's chain deleted, a tail cut while
nginx runs) is caught by holding the files against the checkpoints each
worker sent to ds_audit_checkpoint: here a UDP syslog collector, what a
SIEM's syslog input is, writing every datagram as one line.
"""

import json
import os
import re
import socket
import threading
import time

import requests

from conftest import PREFIX, bearer, dsctl, wait_for
from test_audit import write_key

SHARES = PREFIX + "/shares"


class Collector:
    """A syslog (UDP) receiver writing one line per datagram."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        with open(self.path, "w") as f:
            while not self.done:
                try:
                    m = self.sock.recv(65535).decode()
                except socket.timeout:
                    continue
                self.lines.append(m)
                f.write(m + "\n")
                f.flush()

    def checkpoints(self):
        out = []
        for m in list(self.lines):
            mm = re.search(r"dscp: (\{.*\})$", m)
            if mm:
                out.append(json.loads(mm.group(1)))
        return out

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def start(nginx, tmp_path, workers=2, interval="1s"):
    key = write_key(tmp_path)
    log = str(tmp_path / "audit.log")
    siem = Collector(str(tmp_path / "siem.log"))
    ng = nginx(http_extra="    ds_audit_key %s;\n    ds_audit_log %s;\n"
               "    ds_audit_checkpoint syslog:server=127.0.0.1:%d,tag=dscp "
               "interval=%s;" % (key, log, siem.port, interval),
               workers=workers)
    return ng, log, key, siem


def verify(log, key, *extra):
    return dsctl("audit", "verify", log, "--key", key, *extra)


def burst(ng, n):
    s = requests.Session()
    for _ in range(n):
        assert s.get(ng.url(SHARES), headers=bearer("fraud")) \
            .status_code == 200
    s.close()


def lines_of(path):
    with open(path, "rb") as f:
        return f.read().splitlines()


def chain_of(line):
    return json.loads(line)["integrity"]["chain"]


def write(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))


def test_checkpoints_sent_and_met(nginx, tmp_path):
    ng, log, key, siem = start(nginx, tmp_path)
    burst(ng, 20)
    # an interval passes with new records: each worker that wrote sends
    wait_for(lambda: any(c["event"] == "interval"
                         for c in siem.checkpoints()),
             timeout=5, what="an interval checkpoint")
    burst(ng, 20)
    ng.stop()
    wait_for(lambda: sum(c["event"] == "end"
                         for c in siem.checkpoints()) == 2,
             what="both workers' end checkpoints")
    siem.close()

    cps = siem.checkpoints()
    assert {c["event"] for c in cps} >= {"start", "interval", "end"}
    assert len({c["chain"] for c in cps}) == 2
    for c in cps:
        assert set(c) == {"type", "v", "alg", "chain", "seq", "head",
                          "requests", "event", "time", "time_ms", "cmac"}
        assert c["type"] == "dsgw_checkpoint" and c["alg"] == "hmac-sha256"
    assert sum(c["requests"] for c in cps if c["event"] == "end") == 40

    # the head each checkpoint names is the MAC of the record at its seq
    by_pos = {}
    for l in lines_of(log):
        i = json.loads(l)["integrity"]
        by_pos[(i["chain"], i["seq"])] = i["mac"]
    for c in cps:
        assert by_pos[(c["chain"], c["seq"])] == c["head"]

    r = verify(log, key, "--checkpoints", siem.path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checkpoints: %d met, covering 2 chain(s)" % len(cps) in r.stdout
    # no token, no key in what went to the SIEM
    blob = open(siem.path).read()
    assert "Bearer" not in blob and open(key).read().strip() not in blob


def test_deleted_chain_only_checkpoints_see(nginx, tmp_path):
    ng, log, key, siem = start(nginx, tmp_path)
    burst(ng, 30)
    ng.stop()
    wait_for(lambda: sum(c["event"] == "end"
                         for c in siem.checkpoints()) == 2,
             what="both workers' end checkpoints")
    siem.close()

    lines = lines_of(log)
    chains = sorted({chain_of(l) for l in lines})
    assert len(chains) == 2
    gone = str(tmp_path / "one-chain-deleted.log")
    write(gone, [l for l in lines if chain_of(l) != chains[0]])

    # what is left is a whole chain: no local check can tell
    r = verify(gone, key)
    assert r.returncode == 0, r.stdout
    # the checkpoints can
    r = verify(gone, key, "--checkpoints", siem.path)
    assert r.returncode == 1, r.stdout
    assert "error: missing: chain %s: chain absent from the files" \
        % chains[0] in r.stdout, r.stdout


def test_tail_cut_while_running(nginx, tmp_path):
    ng, log, key, siem = start(nginx, tmp_path, workers=1)
    burst(ng, 10)
    wait_for(lambda: any(c["event"] == "interval" and c["requests"] == 10
                         for c in siem.checkpoints()),
             timeout=5, what="the checkpoint of 10 requests")

    # nginx runs on: the chain is open, --open-ok accepts that
    lines = lines_of(log)
    assert len(lines) == 11
    assert verify(log, key, "--open-ok",
                  "--checkpoints", siem.path).returncode == 0

    # the last 3 records removed: invisible to --open-ok alone ...
    cut = str(tmp_path / "cut.log")
    write(cut, lines[:-3])
    r = verify(cut, key, "--open-ok")
    assert r.returncode == 0 and "warning: open" in r.stdout, r.stdout
    # ... and an error by default, and against the checkpoint
    assert verify(cut, key).returncode == 1
    r = verify(cut, key, "--open-ok", "--checkpoints", siem.path)
    assert r.returncode == 1, r.stdout
    assert re.search(r"siem\.log:\d+: error: cut: chain \S+: 1 checkpoint"
                     r"\(s\) not met by the files, up to seq 10 \(10 "
                     r"request record\(s\)\); the files hold this chain "
                     r"up to seq 7", r.stdout), r.stdout

    # a checkpoint edited by someone without the key
    forged = str(tmp_path / "forged.log")
    with open(siem.path) as f, open(forged, "w") as g:
        for l in f:
            g.write(l.replace('"requests":10', '"requests":9'))
    r = verify(log, key, "--open-ok", "--checkpoints", forged)
    assert r.returncode == 1 and "error: forged" in r.stdout, r.stdout

    ng.stop()
    siem.close()


def test_no_checkpoint_while_nothing_is_written(nginx, tmp_path):
    ng, log, key, siem = start(nginx, tmp_path, workers=1)
    wait_for(lambda: siem.checkpoints(), what="the start checkpoint")
    time.sleep(2.5)                # two intervals without a record
    cps = siem.checkpoints()
    assert [c["event"] for c in cps] == ["start"]
    assert cps[0]["seq"] == 0 and cps[0]["requests"] == 0
    ng.stop()
    siem.close()


def test_checkpoint_directive_errors(nginx, request, tmp_path):
    request.node.allow_log = ("[emerg]",)
    log = str(tmp_path / "audit.log")
    cases = [
        ("ds_audit_checkpoint %s;" % str(tmp_path / "cp.log"),
         "give a syslog: destination that the gateway host cannot rewrite"),
        ("ds_audit_checkpoint syslog:server=127.0.0.1:514 interval=10ms;",
         "invalid checkpoint interval \"10ms\" (at least 1s)"),
        ("ds_audit_checkpoint syslog:server=127.0.0.1:514 every=1s;",
         "invalid parameter \"every=1s\""),
        ("ds_audit_checkpoint syslog:server=127.0.0.1:514;\n"
         "    ds_audit_checkpoint syslog:server=127.0.0.1:515;",
         "\"ds_audit_checkpoint\" directive is duplicate"),
        ("ds_audit_checkpoint syslog:nowhere;",
         "syslog"),
    ]
    for extra, msg in cases:
        ng = nginx(http_extra="    ds_audit_log %s;\n    %s" % (log, extra),
                   start=False)
        rc, out = ng.test_config()
        assert rc != 0, extra
        assert msg in out, out
        assert "nginx.conf:" in out, out
